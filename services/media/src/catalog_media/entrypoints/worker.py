"""The `catalog-media` command: derivatives for every new or changed product image, and regeneration requests."""

from catalog_media.entrypoints.bootstrap import build
from catalog_media.settings import MediaSettings


def main() -> None:
    build(MediaSettings()).run()
