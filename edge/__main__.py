"""`python -m edge run|validate-config|health|accuracy`: the edge agent's command line.

    run --config FILE [--max-frames N]   run the cameras; print a JSON run summary on stdout
    validate-config FILE                 check FILE (and SIGHTLINE_EDGE_* overrides); print each
                                         problem as `file:line: key.path: message`
    health FILE                          ask the running agent of FILE for its /healthz (with
                                         metrics enabled; else only check FILE): exit 0 healthy
    accuracy --manifest FILE [--detector TYPE] [--dataset DIR] [--score S] [--iou I] [--record]
                                         precision and recall of a detector backend on VOC
                                         ground truth (see edge/accuracy.py); --record writes
                                         them into the manifest's [accuracy] table

Exit status: 0 success; 1 the agent failed (a camera, the model, a backend, delivery
credentials, the data set); 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from edge import app, config
from edge.accuracy import DEFAULT_SCORE_THRESHOLD, VOC_DATASET, Measurement, measure
from edge.detectors.registry import DETECTORS
from edge.errors import ConfigError, EdgeError
from edge.health import probe
from edge.logs import configure_logging, format_from_env
from models.errors import ModelError
from models.manifest import read_runtime_manifest, record_accuracy

logger = logging.getLogger("edge")

EXIT_FAILED = 1
EXIT_CONFIG = 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge", description="Sightline edge agent.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the agent")
    run.add_argument("--config", type=Path, required=True, help="YAML config file")
    run.add_argument(
        "--max-frames",
        type=_positive,
        default=None,
        help="stop each camera after this many processed frames",
    )
    validate = commands.add_parser("validate-config", help="check a config file and exit")
    validate.add_argument("file", type=Path, help="YAML config file")
    health = commands.add_parser("health", help="ask the running agent whether it is healthy")
    health.add_argument("file", type=Path, help="the agent's YAML config file")
    measure = commands.add_parser(
        "accuracy", help="measure a detector's precision and recall on VOC ground truth"
    )
    measure.add_argument("--manifest", type=Path, required=True, help="the model's manifest TOML")
    measure.add_argument(
        "--detector",
        choices=sorted(DETECTORS),
        default="ort",
        help="detector backend, run with its default settings (default: ort)",
    )
    measure.add_argument(
        "--dataset",
        type=Path,
        default=VOC_DATASET,
        help="VOC folder with Annotations/ and JPEGImages/ (default: Debian's labelme-examples)",
    )
    measure.add_argument(
        "--score",
        type=_fraction,
        default=None,
        help="score threshold (default: the manifest's recorded one, else "
        f"{DEFAULT_SCORE_THRESHOLD})",
    )
    measure.add_argument("--iou", type=_fraction, default=0.5, help="match IoU (default: 0.5)")
    measure.add_argument(
        "--record", action="store_true", help="write the result into the manifest's [accuracy]"
    )
    return parser


def _validate(path: Path) -> int:
    try:
        config.load(path)
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return EXIT_CONFIG
    sys.stdout.write(f"{path}: ok\n")
    return 0


def _health(path: Path) -> int:
    try:
        settings = config.load(path).metrics
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return EXIT_CONFIG
    if not settings.enabled:
        sys.stdout.write(f"{path}: ok (metrics disabled: only the config was checked)\n")
        return 0
    healthy, said = probe.ask(settings)
    (sys.stdout if healthy else sys.stderr).write(f"{said}\n")
    return 0 if healthy else EXIT_FAILED


def _run(path: Path, max_frames: int | None) -> int:
    try:
        loaded = config.load(path)
        configure_logging(loaded.log_level, loaded.log_format)
        summary = app.run(loaded, max_frames=max_frames)
    except ConfigError as err:
        logger.error("invalid configuration:\n%s", err)
        return EXIT_CONFIG
    except (EdgeError, ModelError, OSError) as err:
        # Raised while building components (model, backend, outbox file): a readable line, not
        # a traceback; the message says what to fix.
        logger.error("%s", err)
        return EXIT_FAILED
    sys.stdout.write(json.dumps(asdict(summary)) + "\n")
    return summary.exit_code


def _accuracy(args: argparse.Namespace) -> int:
    try:
        recorded = read_runtime_manifest(args.manifest).accuracy
        if args.score is not None:
            score_threshold = args.score
        else:
            score_threshold = recorded.score_threshold if recorded else DEFAULT_SCORE_THRESHOLD
        measurement = Measurement(
            args.manifest, args.detector, args.dataset, score_threshold, args.iou
        )
        score = measure(measurement)
        sys.stdout.write(
            f"{args.manifest}: precision {score.precision:.3f} recall {score.recall:.3f} "
            f"({score.true_positives} TP, {score.false_positives} FP, {score.ground_truths} "
            f"objects) at score >= {score_threshold}, IoU >= {args.iou}\n"
        )
        if args.record:
            record_accuracy(args.manifest, measurement.recorded(score))
            logger.info("recorded in %s", args.manifest)
    except (EdgeError, ModelError, OSError) as err:
        logger.error("%s", err)
        return EXIT_FAILED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command and return the exit status."""
    args = _parser().parse_args(argv)
    # Configured before the config is read, so its errors already use the requested format.
    configure_logging("INFO", format_from_env())
    if args.command == "validate-config":
        return _validate(args.file)
    if args.command == "health":
        return _health(args.file)
    if args.command == "accuracy":
        return _accuracy(args)
    return _run(args.config, args.max_frames)


if __name__ == "__main__":
    sys.exit(main())
