"""tensorserve.monitoring."""
