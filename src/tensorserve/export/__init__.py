"""tensorserve.export."""
