"""Adapters of the enricher: enrichment providers and the resilience around them."""
