"""Keeping the search read model in step with product events."""
