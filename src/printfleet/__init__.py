"""printfleet: a self-hosted print-farm manager."""

__version__ = "0.1.0"
