"""Outbox relay: publishes the outbox to Kafka in per-product order, at least once."""
