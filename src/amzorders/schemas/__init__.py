"""Amazon notification payload schemas (data)."""
