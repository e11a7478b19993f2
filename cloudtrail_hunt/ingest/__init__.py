"""Ingest: list source objects, decode them, normalise records and write the lake."""
