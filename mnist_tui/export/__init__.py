"""`mnist export`: writing and checking the formats other programs load."""
