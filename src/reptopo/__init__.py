"""reptopo: the topology and geometry of neural-network representations, measured the same way."""

__version__ = "0.1.0"
