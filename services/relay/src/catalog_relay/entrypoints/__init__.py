"""The `catalog-relay` command and its composition root."""
