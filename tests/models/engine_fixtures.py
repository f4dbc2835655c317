"""Engine manifests and targets for tests that cannot build a real engine (no TensorRT here)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from onnx import TensorProto, helper

from models.engines import EngineManifest, EngineTarget, engine_cache_key, engine_paths

ORIN = EngineTarget(tensorrt_version="10.3.0", device_name="Orin", compute_capability="8.7")
MODEL_SHA256 = "ab" * 32


def fake_engine(
    cache_dir: Path,
    *,
    engine: bytes = b"serialised engine",
    model_sha256: str = MODEL_SHA256,
    target: EngineTarget = ORIN,
    max_batch: int = 1,
    **changes: object,
) -> tuple[Path, EngineManifest]:
    """Write `engine` and a manifest describing it under its cache key, as the builder does."""
    key = engine_cache_key(model_sha256, target, "fp16", max_batch)
    engine_path, manifest_path = engine_paths(cache_dir, key)
    cache_dir.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(engine)
    fields: dict[str, object] = {
        "model_sha256": model_sha256,
        "model_name": "nanodet-g",
        "opset": 13,
        "input_name": "input_1:0",
        "input_shape": (3, 416, 416),
        "max_batch": max_batch,
        "precision": "fp16",
        "target": target,
        "engine_sha256": hashlib.sha256(engine).hexdigest(),
        "built_at": datetime(2026, 11, 27, tzinfo=UTC),
        "build_seconds": 570.0,
    }
    manifest = EngineManifest.model_validate(fields | changes)
    manifest_path.write_text(manifest.model_dump_json(), encoding="utf-8")
    return engine_path, manifest


def model_bytes(*opsets: tuple[str, int]) -> bytes:
    """A small ONNX model importing `opsets` ((domain, version) pairs)."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets],
        producer_name="a producer name long enough to need a two-byte length" * 3,
    )
    return bytes(model.SerializeToString())
