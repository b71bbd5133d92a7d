"""The `catalog-media` worker, the regeneration command and their composition root."""
