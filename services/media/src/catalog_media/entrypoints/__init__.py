"""The `catalog-media` worker and the regeneration command."""
