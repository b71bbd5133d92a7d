"""The `catalog-indexer` worker, the `catalog-search` API and the composition root."""
