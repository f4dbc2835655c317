"""Stopping long-running ingest processes cleanly on SIGTERM (Kubernetes) and SIGINT (Ctrl-C)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)


def stop_event_on_signals() -> threading.Event:
    """Return an event that SIGTERM or SIGINT sets; call from the main thread only."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    return stop
