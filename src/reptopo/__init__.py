"""reptopo: the topology and geometry of neural-network representations, measured the same way."""

__version__ = "0.1.0"

__all__ = ["Profile", "profile"]


def __getattr__(name: str):
    # reptopo.profile needs torch; importing it lazily keeps `import reptopo.measures` free of torch
    if name in ("profile", "Profile"):
        from . import profiling

        return getattr(profiling, name)
    raise AttributeError(f"module 'reptopo' has no attribute {name!r}")
