"""`python -m models build|path|verify`: build, locate and check models.

build [NAME ...]       fetch, convert and cache the models (all when no name is given)
path NAME              print the built file's path (fails if it is not built)
verify [NAME ...]      check cached files against their manifest sha256; non-zero if any fail

A detector's accuracy is measured on the detector the agent runs:
`python -m edge accuracy --manifest models/NAME.toml [--record]`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from models import build as builder
from models import cache
from models.errors import ModelError
from models.manifest import RecipeManifest, load_all, load_manifest

logger = logging.getLogger("models")


def _selected(names: Sequence[str]) -> list[RecipeManifest]:
    return [load_manifest(name) for name in names] if names else load_all()


def _build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    manifests = _selected(args.names)
    for manifest in manifests:
        result = builder.build(manifest)
        sys.stdout.write(
            f"{manifest.name}\t{'built' if result.built else 'cached'}\t{result.path}\n"
        )
    logger.info("%d models ready in %.1fs", len(manifests), time.perf_counter() - started)
    return 0


def _path(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{cache.resolve(args.name)}\n")
    return 0


def _verify(args: argparse.Namespace) -> int:
    failures = 0
    for manifest in _selected(args.names):
        status = cache.verify(manifest)
        failures += status != "ok"
        sys.stdout.write(f"{manifest.name}\t{status}\t{cache.model_path(manifest)}\n")
    return 1 if failures else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="fetch, convert and cache models")
    build.add_argument("names", nargs="*", help="model names (default: all manifests)")
    build.set_defaults(run=_build)
    path = commands.add_parser("path", help="print the path of a built model")
    path.add_argument("name")
    path.set_defaults(run=_path)
    verify = commands.add_parser("verify", help="check cached models against their sha256")
    verify.add_argument("names", nargs="*", help="model names (default: all manifests)")
    verify.set_defaults(run=_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except ModelError as err:
        logger.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
