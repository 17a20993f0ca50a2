"""tensorserve.rest."""
