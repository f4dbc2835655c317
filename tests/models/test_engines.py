"""Engine manifests, cache keys and the check that refuses an engine that is not what it claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.engines import (
    EngineTarget,
    check_engine,
    engine_cache_key,
    engine_paths,
    read_manifest,
    write_manifest,
)
from models.errors import ModelError
from tests.models.engine_fixtures import MODEL_SHA256, ORIN, fake_engine


def test_the_cache_key_changes_with_everything_that_makes_engines_differ() -> None:
    base = engine_cache_key(MODEL_SHA256, ORIN, "fp16", 1)
    others = [
        engine_cache_key("cd" * 32, ORIN, "fp16", 1),
        engine_cache_key(
            MODEL_SHA256, ORIN.model_copy(update={"tensorrt_version": "10.7.0"}), "fp16", 1
        ),
        engine_cache_key(
            MODEL_SHA256, ORIN.model_copy(update={"device_name": "Xavier"}), "fp16", 1
        ),
        engine_cache_key(
            MODEL_SHA256, ORIN.model_copy(update={"compute_capability": "7.2"}), "fp16", 1
        ),
        engine_cache_key(MODEL_SHA256, ORIN, "int8", 1),
        engine_cache_key(MODEL_SHA256, ORIN, "fp16", 4),
    ]
    assert len({base, *others}) == 7
    assert engine_cache_key(MODEL_SHA256, ORIN, "fp16", 1) == base  # stable
    assert base.startswith("abababababab-fp16-b1-")


def test_engine_paths_put_the_manifest_beside_the_engine(tmp_path: Path) -> None:
    assert engine_paths(tmp_path, "k") == (tmp_path / "k.engine", tmp_path / "k.engine.json")


def test_a_manifest_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    _, manifest = fake_engine(tmp_path / "built")
    path = tmp_path / "cache" / "x.engine.json"

    write_manifest(path, manifest)

    assert read_manifest(path) == manifest
    assert [p.name for p in path.parent.iterdir()] == ["x.engine.json"]  # no temporary left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("not json", "invalid"),
        ("{}", "model_sha256: Field required"),
    ],
    ids=["missing", "not json", "incomplete"],
)
def test_a_bad_manifest_is_a_model_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "x.engine.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(ModelError, match=message):
        read_manifest(path)


def test_a_manifest_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    _, manifest = fake_engine(tmp_path)
    path = tmp_path / "x.engine.json"
    path.write_text(json.dumps(json.loads(manifest.model_dump_json()) | {"dla_core": 0}))

    with pytest.raises(ModelError, match="dla_core: Extra inputs are not permitted"):
        read_manifest(path)


def test_a_matching_engine_passes_the_check(tmp_path: Path) -> None:
    engine, manifest = fake_engine(tmp_path)

    check_engine(engine, manifest, model_sha256=MODEL_SHA256, target=ORIN)


def test_a_tampered_engine_is_refused(tmp_path: Path) -> None:
    engine, manifest = fake_engine(tmp_path)
    engine.write_bytes(b"serialised engine, patched")

    with pytest.raises(ModelError, match="altered or corrupted"):
        check_engine(engine, manifest, model_sha256=MODEL_SHA256, target=ORIN)


def test_an_engine_of_another_model_is_refused(tmp_path: Path) -> None:
    engine, manifest = fake_engine(tmp_path)

    with pytest.raises(ModelError, match=f"built from model sha256 {MODEL_SHA256}, not cdcd"):
        check_engine(engine, manifest, model_sha256="cd" * 32, target=ORIN)


def test_an_engine_for_another_tensorrt_and_gpu_is_refused_naming_each_difference(
    tmp_path: Path,
) -> None:
    engine, manifest = fake_engine(tmp_path)
    h100 = EngineTarget(
        tensorrt_version="10.7.0", device_name="NVIDIA H100", compute_capability="9.0"
    )

    with pytest.raises(ModelError) as raised:
        check_engine(engine, manifest, model_sha256=MODEL_SHA256, target=h100)

    message = str(raised.value)
    assert "TensorRT 10.3.0, this is 10.7.0" in message
    assert "device Orin, this is NVIDIA H100" in message
    assert "compute capability 8.7, this is 9.0" in message


def test_a_missing_engine_is_a_model_error(tmp_path: Path) -> None:
    engine, manifest = fake_engine(tmp_path)
    engine.unlink()

    with pytest.raises(ModelError, match="cannot read"):
        check_engine(engine, manifest, model_sha256=MODEL_SHA256, target=ORIN)
