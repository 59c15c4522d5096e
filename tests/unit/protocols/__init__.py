"""Codec unit tests. "edge N" in them cites case N of docs/edge-cases.md."""
