"""The protocol-neutral servable API: what a loaded model computes, and its signatures."""
