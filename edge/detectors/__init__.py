"""Detector backends: a preprocessed tensor in, detections out.

`postprocess` holds the pure helpers every backend shares (letterbox, NanoDet decode, NMS).
"""
