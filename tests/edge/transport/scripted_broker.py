"""A tiny scripted MQTT 5 broker on 127.0.0.1 for the link's unit tests (no Mosquitto needed).

It serves one connection at a time: reads CONNECT, answers CONNACK with `connack`; after a
success it records every PUBLISH (topic, payload, retain) and answers PINGREQ, PUBACKs QoS 1
publishes with `puback` (0: success), and hangs up on DISCONNECT. With a server SSL context it
speaks TLS and records the client certificate's common name. The full behaviour against the real
broker is in tests/integration/test_edge_transport_mqtt.py.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import threading
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class Published:
    topic: str
    payload: bytes
    retain: bool


def _read_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    """(first byte, body) of the next MQTT packet (MQTT 5.0 section 2.1: fixed header)."""
    first = _read_exact(conn, 1)[0]
    length, shift = 0, 0
    while True:
        byte = _read_exact(conn, 1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first, _read_exact(conn, length)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


class ScriptedBroker:
    """See the module docstring. `published` gets every PUBLISH in arrival order."""

    def __init__(
        self, *, connack: int = 0, puback: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.connack = connack
        self.puback = puback
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.connects = 0
        self.client_ids: list[bytes] = []
        self.peer_names: list[str] = []
        self.published: queue.Queue[Published] = queue.Queue()
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            with raw, contextlib.suppress(OSError, ConnectionError, ssl.SSLError):
                raw.settimeout(5)
                conn = self._tls.wrap_socket(raw, server_side=True) if self._tls else raw
                with conn:
                    self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)  # short reads, so close() ends the session soon
        if isinstance(conn, ssl.SSLSocket):
            cert = conn.getpeercert()
            subject = dict(item[0] for item in cert["subject"]) if cert else {}
            self.peer_names.append(str(subject.get("commonName", "")))
        first, body = _read_packet(conn)
        if first >> 4 != 1:  # CONNECT
            return
        self.connects += 1
        self.client_ids.append(body)
        # MQTT 5.0 section 3.2: CONNACK, flags 0, reason, no properties.
        conn.sendall(bytes([0x20, 3, 0, self.connack, 0]))
        if self.connack != 0:
            return
        while self._running:
            try:
                first, body = _read_packet(conn)
            except TimeoutError:
                continue
            kind = first >> 4
            if kind == 3:  # PUBLISH
                self._publish(conn, first, body)
            elif kind == 12:  # PINGREQ
                conn.sendall(bytes([0xD0, 0]))
            elif kind == 14:  # DISCONNECT
                return

    def _publish(self, conn: socket.socket, first: int, body: bytes) -> None:
        qos = (first >> 1) & 3
        topic_length = int.from_bytes(body[:2], "big")
        topic = body[2 : 2 + topic_length].decode()
        at = 2 + topic_length
        packet_id = body[at : at + 2]
        if qos:
            at += 2
        properties, at = _varint(body, at)
        self.published.put(Published(topic, body[at + properties :], bool(first & 1)))
        if qos == 1:
            conn.sendall(bytes([0x40, 3, *packet_id, self.puback]))

    def close(self) -> None:
        self._running = False
        self._thread.join()
        self._listener.close()

    def __enter__(self) -> ScriptedBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
