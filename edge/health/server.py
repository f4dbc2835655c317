"""The HTTP endpoint: `/metrics`, `/healthz` and `/readyz` on a thread of its own.

A plain `http.server` (threaded, so a slow scraper does not hold a probe up): three read-only
paths, no body to parse, nothing worth a web framework on the device. `/healthz` and `/readyz`
answer JSON (per camera state, delivery lanes, reasons) with 200 or 503 (see `edge.health.state`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from edge.health.collector import AgentCollector
from edge.health.settings import MetricsSettings
from edge.health.state import AgentHealth

logger = logging.getLogger(__name__)


class HealthServer:
    """Serves the agent's metrics and health from `snapshot` until `close`."""

    def __init__(self, settings: MetricsSettings, snapshot: Callable[[], AgentHealth]) -> None:
        """Binds the port now, so that a port in use is an error at start, not in a thread."""
        # A registry of its own: the default one would also carry whatever else imported
        # prometheus_client registered in this process.
        self.registry = CollectorRegistry()
        self.registry.register(AgentCollector(snapshot))
        ProcessCollector(namespace="", registry=self.registry)
        handler = _handler(self.registry, snapshot)
        self._server = ThreadingHTTPServer((settings.host, settings.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-server", daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on (the configured one, or the one picked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread.start()
        host = self._server.server_address[0]
        logger.info(
            "metrics and health on http://%s:%d (/metrics, /healthz, /readyz)", host, self.port
        )

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def _handler(
    registry: CollectorRegistry, snapshot: Callable[[], AgentHealth]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(HTTPStatus.OK, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path in ("/healthz", "/readyz"):
                health = snapshot()
                reasons = health.problems() if path == "/healthz" else health.not_ready()
                status = HTTPStatus.OK if not reasons else HTTPStatus.SERVICE_UNAVAILABLE
                body = json.dumps(health.describe(reasons), sort_keys=True).encode()
                self._send(status, "application/json", body)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Scrapes and probes every few seconds would drown the agent's log.
            logger.debug("%s %s", self.address_string(), format % args)

    return Handler
