"""The `catalog-importer` command: consumes `import.requested`, runs import jobs, watches over abandoned ones."""

import gc

from catalog_importer.entrypoints.bootstrap import build
from catalog_importer.settings import ImporterSettings


def main() -> None:
    processor = build(ImporterSettings())
    # What exists now (modules, the ORM's and pydantic's schemas, the wiring) lives as long as the process: moved
    # out of the collector's sight, so that the many short-lived objects of a feed's rows do not make every older
    # generation's collection walk it again (a third of the importer's CPU time on a large feed otherwise).
    gc.freeze()
    processor.run()
