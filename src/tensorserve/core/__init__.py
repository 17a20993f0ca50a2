"""tensorserve.core."""
