"""Generated package sightline.ingest (do not edit; run protos/generate.py)."""
