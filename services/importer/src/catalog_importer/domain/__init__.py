"""Pure rules of importing a feed: reading rows, grouping them into products, chunks, tallies."""
