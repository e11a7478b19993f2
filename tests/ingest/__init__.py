"""Tests of cloudtrail_hunt.ingest."""
