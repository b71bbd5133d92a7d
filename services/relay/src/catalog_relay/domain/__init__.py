"""Pure relay rules: which published rows may be marked without breaking per-aggregate order, and leadership."""
