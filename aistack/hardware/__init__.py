"""Hardware probing: ``probe()`` returns a frozen ``HardwareProfile``."""
