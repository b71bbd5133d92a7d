"""The outbox relay: publishes committed outbox rows to Kafka, in order per aggregate, at least once."""
