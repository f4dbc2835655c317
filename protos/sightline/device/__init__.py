"""Generated package sightline.device (do not edit; run protos/generate.py)."""
