"""Handling product events: enrich a product from its event, store the result only if it is still current."""
