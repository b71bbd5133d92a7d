"""The `catalog-importer` command: consumes `import.requested`, runs import jobs, watches over abandoned ones."""

from catalog_importer.entrypoints.bootstrap import build
from catalog_importer.settings import ImporterSettings


def main() -> None:
    build(ImporterSettings()).run()
