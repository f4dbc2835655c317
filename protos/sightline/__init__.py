"""Sightline wire contract: generated protobuf and gRPC code.

Edit the .proto files next to this code, then run `uv run python protos/generate.py`.
"""
