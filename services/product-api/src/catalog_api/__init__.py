"""Product API: commands and reads on products, and the outbox relay that publishes their events."""
