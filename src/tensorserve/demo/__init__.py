"""tensorserve.demo."""
