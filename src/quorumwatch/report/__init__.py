"""Presenting ticks and verdicts: plain lines, a live Rich table."""
