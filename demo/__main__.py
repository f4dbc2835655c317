"""``python -m demo``: the whole system on one machine, with no server to install.

It runs the same processes as a deployment, each on its embedded default (see `demo.stack`):
an in-process MQTT broker, the gRPC ingest server, the MQTT bridge, a Celery embed worker, the
edge agent on the video (``vtest.avi`` unless ``--video``), then the web app on 127.0.0.1 until
Ctrl-C. Everything lives under ``--data-dir`` (default ``$SIGHTLINE_CACHE_DIR/demo``), wiped at
the start unless ``--keep``. The summary line counts frames, detections, tracks and crops
indexed. The README's `./sightline demo` installs what it needs and runs this.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import time
from pathlib import Path

import yaml

from demo.stack import (
    DEFAULT_VIDEO,
    DEMO_USER,
    MODELS,
    DemoError,
    Ports,
    adopt_environment,
    cache_dir,
    edge_config,
    free_port,
    prepare_cloud,
    prepare_data_dir,
    quiet_broker_logs,
    run_checked,
    running_cloud,
    wait_for_web,
    wait_until_indexed,
)

logger = logging.getLogger("demo")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    video: Path = args.video
    if not video.is_file():
        hint = " (apt-get install opencv-doc)" if video == DEFAULT_VIDEO else ""
        raise DemoError(f"no video at {video}{hint}; pass --video FILE")
    data: Path = args.data_dir
    prepare_data_dir(data, keep=args.keep)
    python = [sys.executable]
    ports = Ports(mqtt=free_port(), ingest=free_port(), web=args.port or free_port())
    env = adopt_environment(data, ports)

    logger.info("building or checking models: %s", ", ".join(MODELS))
    run_checked([*python, "-m", "models", "build", *MODELS], env, "model build")
    token, password = prepare_cloud(python, env, data)
    config_path = data / "edge.yaml"
    config_path.write_text(yaml.safe_dump(edge_config(data, video, ports)), encoding="utf-8")

    with running_cloud(python, env, data, ports) as services:
        logger.info("edge agent: processing %s", video)
        edge_env = {**env, "SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN": token}
        edge_out = run_checked(
            [*python, "-m", "edge", "run", "--config", str(config_path)], edge_env, "edge agent"
        )
        summary = json.loads(edge_out.strip().splitlines()[-1])
        logger.info("edge agent done; waiting for the embed worker")
        indexed = wait_until_indexed(summary["crops_sent"], services, args.index_timeout)
        elapsed = time.monotonic() - started
        sys.stdout.write(
            f"frames {summary['frames']}, detections {summary['tracked']}, "
            f"tracks {summary['tracks']}, crops indexed {indexed}, seconds {elapsed:.1f}\n"
        )
        if args.no_serve:
            return 0
        web = services.start(
            "web",
            [
                *python,
                "-m",
                "cloud",
                "runserver",
                f"127.0.0.1:{ports.web}",
                "--noreload",
                "--insecure",
            ],
        )
        wait_for_web(ports.web)
        sys.stdout.write(
            f"search the footage at http://127.0.0.1:{ports.web}/ "
            f"(user {DEMO_USER!r}, password {password!r}); Ctrl-C stops\n"
        )
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            web.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video file to process")
    parser.add_argument(
        "--data-dir", type=Path, default=cache_dir() / "demo", help="where everything is kept"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data of the last run")
    parser.add_argument("--port", type=int, default=8000, help="web app port (0: any free one)")
    parser.add_argument(
        "--no-serve", action="store_true", help="stop after the summary instead of serving"
    )
    parser.add_argument(
        "--index-timeout", type=float, default=600.0, help="seconds to wait for embeddings"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    quiet_broker_logs()
    # SIGTERM unwinds like Ctrl-C, so the child processes are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return run(args)
    except DemoError as err:
        logger.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
