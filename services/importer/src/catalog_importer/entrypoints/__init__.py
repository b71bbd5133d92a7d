"""The `catalog-importer` worker and its composition root."""
