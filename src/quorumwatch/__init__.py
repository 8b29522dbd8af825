"""quorumwatch: find split brain in leader-elected clusters."""

__version__ = "0.1.0"
