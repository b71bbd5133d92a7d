"""Catalog media stream processor: image derivatives in the object store, media fields via the outbox."""
