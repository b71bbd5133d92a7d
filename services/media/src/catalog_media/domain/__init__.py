"""Pure media rules: derivative geometry, dominant colour, which images need work, failure reasons, regeneration."""
