"""Worked examples: the connector of the README's "Adding a connector"."""
