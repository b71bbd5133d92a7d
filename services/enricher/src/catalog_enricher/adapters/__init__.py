"""Adapters of the enricher: the catalog database, enrichment providers and the resilience around them."""
