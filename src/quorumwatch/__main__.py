"""`python -m quorumwatch`."""

from quorumwatch.cli import main

main()
