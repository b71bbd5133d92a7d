"""The `catalog-enricher` worker and its composition root."""
