"""`catalog-media-regenerate --product ID | --all`: ask the media service to make derivatives again.

The request goes through the outbox like every other event, so it is published once the relay runs.
"""

import argparse

from catalog_kit.db import make_engine
from catalog_media.domain.regeneration import parse_product_id
from catalog_media.entrypoints.bootstrap import media_store
from catalog_media.settings import MediaSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--product", action="append", type=parse_product_id, help="a product id (repeatable)")
    which.add_argument("--all", action="store_true", help="every product")
    args = parser.parse_args(argv)
    settings = MediaSettings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        targets: list[str | None] = [None] if args.all else list(args.product)
        media_store(settings, engine).request_regeneration(targets)
    finally:
        engine.dispose()
    print(f"regeneration requested for {'every product' if args.all else ', '.join(args.product)}")
