"""Generated package sightline.ingest.v1 (do not edit; run protos/generate.py)."""
