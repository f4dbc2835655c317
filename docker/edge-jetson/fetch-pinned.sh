#!/usr/bin/env bash
# fetch-pinned URL SHA256 OUT: download URL to OUT and check its SHA-256, for image builds.
# An empty SHA256 is refused: record the digest of the file you trust first (pins.env).
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: fetch-pinned URL SHA256 OUT" >&2
    exit 2
fi
url=$1 sha256=$2 out=$3
if [[ ! $sha256 =~ ^[0-9a-f]{64}$ ]]; then
    echo "fetch-pinned: no valid SHA-256 pinned for $url; download it once, check it, and set" \
        "its digest in docker/edge-jetson/pins.env" >&2
    exit 1
fi
curl -fsSL --retry 3 -o "$out" "$url"
if ! echo "$sha256  $out" | sha256sum --check --status; then
    echo "fetch-pinned: $url does not match the pinned SHA-256 $sha256" >&2
    rm -f "$out"
    exit 1
fi
