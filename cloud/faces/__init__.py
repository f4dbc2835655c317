"""Faces inside person crops: found with YuNet, embedded with SFace, searchable by example.

Public surface: `recognizer` (the two models and the match threshold), `analyser` (the embed
worker's `faces` crop analyser), `models.Face` (one row per person crop with a face) and
`vectors.face_vectors` (their collection). Face search by example is in `cloud.search.faces`.
"""
