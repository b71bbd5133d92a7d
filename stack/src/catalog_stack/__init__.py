"""Local infrastructure and process supervision for `make run`, `make stop` and the test session."""
