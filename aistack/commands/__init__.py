"""One module per CLI command; each exposes a Click ``command``."""
