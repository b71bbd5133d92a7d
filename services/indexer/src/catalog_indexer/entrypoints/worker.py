"""The `catalog-indexer` command: keeps the search read model in step with the product topic."""

from catalog_indexer.entrypoints.bootstrap import build
from catalog_indexer.settings import IndexerSettings


def main() -> None:
    build(IndexerSettings()).run()
