"""Generated package sightline.common (do not edit; run protos/generate.py)."""
