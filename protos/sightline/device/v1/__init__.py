"""Generated package sightline.device.v1 (do not edit; run protos/generate.py)."""
