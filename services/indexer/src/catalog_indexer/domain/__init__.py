"""Pure search rules: the parts of a search document each event carries, and what a search query may ask."""
