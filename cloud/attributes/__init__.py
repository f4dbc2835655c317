"""Attributes computed from crops by the embed workers (named colours of the object and, for
persons, of the upper and lower body), stored beside the detection for search to filter and
rank on."""
