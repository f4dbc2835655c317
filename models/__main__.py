"""`python -m models build|path|verify|accuracy`: build, locate, check and measure models.

build [NAME ...]       fetch, convert and cache the models (all when no name is given)
path NAME              print the built file's path (fails if it is not built)
verify [NAME ...]      check cached files against their manifest sha256; non-zero if any fail
accuracy NAME          precision/recall of a detector on VOC ground truth, recorded in its
                       manifest unless --no-record
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from models import build as builder
from models.errors import ModelError
from models.manifest import ModelManifest, load_all, load_manifest

logger = logging.getLogger("models")
# FACTS.md: 0.40-0.45 is a sensible serving threshold for NanoDet-g.
DEFAULT_SCORE_THRESHOLD = 0.4


def _selected(names: Sequence[str]) -> list[ModelManifest]:
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
    sys.stdout.write(f"{builder.resolve(args.name)}\n")
    return 0


def _verify(args: argparse.Namespace) -> int:
    failures = 0
    for manifest in _selected(args.names):
        status = builder.verify(manifest)
        failures += status != "ok"
        sys.stdout.write(f"{manifest.name}\t{status}\t{builder.model_path(manifest)}\n")
    return 1 if failures else 0


def _accuracy(args: argparse.Namespace) -> int:
    # onnxruntime and OpenCV are only needed here, so they are imported only here.
    from models import accuracy

    manifest = load_manifest(args.name)
    if manifest.task != "detector":
        raise ModelError(f"{manifest.name} is a {manifest.task}; accuracy covers detectors only")
    previous = manifest.accuracy
    threshold = args.score_threshold
    if threshold is None:
        threshold = previous.score_threshold if previous else DEFAULT_SCORE_THRESHOLD
    runner = accuracy.NanoDetRunner(manifest, builder.resolve(manifest.name))
    score = accuracy.evaluate(runner, args.dataset or accuracy.VOC_DATASET, threshold, args.iou)
    sys.stdout.write(
        f"{manifest.name}: precision {score.precision:.3f} recall {score.recall:.3f} "
        f"({score.true_positives} TP, {score.false_positives} FP, {score.ground_truths} objects) "
        f"at score >= {threshold}, IoU >= {args.iou}\n"
    )
    if args.record:
        table = accuracy.accuracy_table(manifest.name, score, threshold, args.iou)
        logger.info("recorded in %s", accuracy.record(manifest.name, table))
    return 0


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
    accuracy = commands.add_parser("accuracy", help="measure a detector on VOC ground truth")
    accuracy.add_argument("name")
    accuracy.add_argument(
        "--dataset",
        type=Path,
        default=None,
        help="VOC folder (default: Debian's labelme-examples bbox data set)",
    )
    accuracy.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="default: the manifest's recorded threshold, else 0.4",
    )
    accuracy.add_argument("--iou", type=float, default=0.5)
    accuracy.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="print only; leave the manifest alone",
    )
    accuracy.set_defaults(run=_accuracy)
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
