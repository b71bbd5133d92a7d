"""Runtime code every catalog service needs: settings, database, outbox, Kafka config, envelope, logging."""
