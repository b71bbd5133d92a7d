"""The relay loop: leadership, batches in order, marks after acknowledgement, clean-up and status."""
