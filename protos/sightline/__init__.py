"""Sightline wire contract, the one package both the edge and the cloud import.

Generated protobuf and gRPC code: edit the .proto files next to it, then run
`uv run python protos/generate.py`. Beside it, the few hand-written rules both sides must
apply identically: `names` (id grammar), `backoff` (retry policy),
`device.v1.topics` (MQTT topic layout) and `model_signature` (what a model signature
covers).
"""
