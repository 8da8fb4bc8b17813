"""amzorders: Amazon seller orders from a terminal."""

__version__ = "0.1.0"
