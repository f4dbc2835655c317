"""Best-crop selection per track: which frame of a track to send to the cloud, cut and encoded.

Public surface: `selector.BestCropSelector` with `selector.CropSettings` and its `BestCrop` output;
the pure helpers in `scoring` (crop quality) and `image` (padding, cutting, JPEG encoding).
"""
