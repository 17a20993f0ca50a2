"""tensorserve.grpc."""
