"""`python -m quorumwatch`."""

from quorumwatch.cli import entry

entry()
