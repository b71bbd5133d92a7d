"""The `catalog-webhooks` worker and its composition root."""
