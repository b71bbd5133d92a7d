"""Relay I/O: the outbox table over psycopg (leader lock, reads, marks, clean-up) and the Kafka producer."""
