"""The `catalog-enricher` command: derives fields for every product change."""

from catalog_enricher.entrypoints.bootstrap import build
from catalog_enricher.settings import EnricherSettings


def main() -> None:
    build(EnricherSettings()).run()
