"""Generated package sightline.common.v1 (do not edit; run protos/generate.py)."""
