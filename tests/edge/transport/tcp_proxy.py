"""A TCP forwarder on 127.0.0.1 for fault injection: cut every connection, or refuse new ones.

The MQTT tests put it between the edge client and the real Mosquitto, which other tests share
and must keep running: cutting the proxy's sockets is a dead network for both ends (the broker
publishes the last will), and `stop()` looks like a broker that is down.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards `127.0.0.1:<port>` to `upstream`. `start()` listens, `stop()` refuses and cuts."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._accepting = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on `port` (the same one every time) and forward what arrives."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.05)
        self._listener = listener
        self._accepting.set()
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (new connections are refused) and cut the open ones."""
        self._accepting.clear()
        if self._thread is not None:
            self._thread.join()
        if self._listener is not None:
            self._listener.close()
        self.cut()

    def cut(self) -> None:
        """Close every forwarded connection at both ends, without any MQTT goodbye."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @property
    def connections(self) -> int:
        """Connections currently forwarded."""
        with self._lock:
            return len(self._pairs)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peer:
                selector.register(sock, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select(timeout=0.2):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            raise ConnectionResetError
                        peer[key.fileobj].sendall(data)  # type: ignore[index]
            except (OSError, ValueError):
                # Either side closed, or cut() closed the sockets under us.
                pass
        with self._lock:
            if (client, upstream) in self._pairs:
                self._pairs.remove((client, upstream))
        for sock in peer:
            sock.close()

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
