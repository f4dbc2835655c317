"""`python -m edge run|validate-config`: the edge agent's command line.

    run --config FILE [--max-frames N]   run the cameras; print a JSON run summary on stdout
    validate-config FILE                 check FILE (and SIGHTLINE_EDGE_* overrides); print each
                                         problem as `file:line: key.path: message`

Exit status: 0 success; 1 the agent failed (a camera, the model, a backend, delivery
credentials); 2 the configuration is invalid.
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
from edge.errors import ConfigError, EdgeError
from edge.logs import configure_logging, format_from_env

logger = logging.getLogger("edge")

EXIT_FAILED = 1
EXIT_CONFIG = 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
    return parser


def _validate(path: Path) -> int:
    try:
        config.load(path)
    except ConfigError as err:
        sys.stderr.write(f"{err}\n")
        return EXIT_CONFIG
    sys.stdout.write(f"{path}: ok\n")
    return 0


def _run(path: Path, max_frames: int | None) -> int:
    try:
        loaded = config.load(path)
        configure_logging(loaded.log_level, loaded.log_format)
        summary = app.run(loaded, max_frames=max_frames)
    except ConfigError as err:
        logger.error("invalid configuration:\n%s", err)
        return EXIT_CONFIG
    except (EdgeError, OSError) as err:
        # Raised while building components (model, backend, outbox file): a readable line, not
        # a traceback; the message says what to fix.
        logger.error("%s", err)
        return EXIT_FAILED
    sys.stdout.write(json.dumps(asdict(summary)) + "\n")
    return summary.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command and return the exit status."""
    args = _parser().parse_args(argv)
    # Configured before the config is read, so its errors already use the requested format.
    configure_logging("INFO", format_from_env())
    if args.command == "validate-config":
        return _validate(args.file)
    return _run(args.config, args.max_frames)


if __name__ == "__main__":
    sys.exit(main())
