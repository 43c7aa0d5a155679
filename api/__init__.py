"""The HTTP API (FastAPI) over the same stores and queries as the CLI; built by an app factory at
start-up, never at import.
"""
