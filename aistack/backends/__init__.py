"""Serving engines. One module per backend, registered in ``registry.BACKENDS``."""
