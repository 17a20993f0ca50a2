"""tensorserve.platforms."""
