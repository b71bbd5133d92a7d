"""What talks to the outside: delivery rows, the outbound HTTP sender."""
