"""Protocol messages the transports speak, importable without the frameworks that own them."""
