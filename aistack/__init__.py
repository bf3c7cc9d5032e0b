"""aistack: turn any machine into a private AI server with one command."""

__version__ = "0.1.0"
