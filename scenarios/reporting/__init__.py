"""Reporting a run: the JSON document (the source of truth), the console view, the PNG, the diff."""
