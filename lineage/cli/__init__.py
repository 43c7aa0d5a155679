"""The `lineage` command line."""

from lineage.cli.app import app, main

__all__ = ["app", "main"]
