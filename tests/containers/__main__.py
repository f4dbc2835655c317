"""Build the images: ``uv run python -m tests.containers [base|edge-cpu|cloud|services ...]``.

``--secrets DIR`` writes the compose stack's secrets instead (kept where they exist).

With no names it makes the base image and builds every image, printing each one's build time
and size. The stack itself runs with ``podman-compose -f docker/compose.yaml up -d`` (see
docker/README.md); set ``CONTAINERS_CONF=docker/podman/containers.conf`` for it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tests.containers import base_image, secrets
from tests.containers.images import IMAGES, build, size_bytes


def main(argv: list[str]) -> int:
    """Parse `argv`, build what it names, print one line per image."""
    parser = argparse.ArgumentParser(prog="python -m tests.containers", description=__doc__)
    known = ["base", *IMAGES]
    # No `choices`: argparse checks an empty list against them and refuses it (Python 3.11).
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(known)}; default: all")
    parser.add_argument("--force-base", action="store_true", help="remake the base image")
    parser.add_argument(
        "--no-cache", action="store_true", help="rebuild every layer (a cold build's time)"
    )
    parser.add_argument(
        "--secrets", type=Path, metavar="DIR", help="only write the stack's secrets into DIR"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.secrets:
        secrets.write(args.secrets)
        print(f"secrets in {args.secrets}: {', '.join(secrets.NAMES)}")
        return 0
    unknown = set(args.names) - set(known)
    if unknown:
        parser.error(f"unknown image {', '.join(sorted(unknown))}; known: {', '.join(known)}")
    names = args.names or known
    if "base" in names or args.force_base:
        made = base_image.ensure(force=args.force_base)
        print(f"base {base_image.IMAGE}: {'made' if made else 'current'}")
    for name in names:
        if name == "base":
            continue
        image = IMAGES[name]
        seconds = build(image, layer_cache=not args.no_cache)
        print(f"{image.tag}: built in {seconds:.1f} s, {size_bytes(image.tag) / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
