"""The one version source (pyproject reads it; so do `--version` and run metadata)."""

__version__ = "0.2.0"
