"""Device authentication of every ingest call, and the error-to-status translation of calls.

`DeviceAuthInterceptor` guards the methods of one service (the health service stays open for
probes). It bounds how many of their calls run at once, in all and per device
(RESOURCE_EXHAUSTED beyond), reads
``authorization: Bearer <token>``, resolves the token to a device id and runs the method with
that id available from `authenticated_device()`; any error that escapes the method ends the
call with the status code `cloud.ingest.status.call_status` picks.

Why the check runs inside the method's thread, not in ``intercept_service``: grpcio calls
interceptors on the server's single polling thread, where a database lookup would stall every
other call. The interceptor therefore only wraps the handler; the wrapper runs on the worker
thread that serves the call.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import grpc
from django.db import close_old_connections, connections
from google.protobuf.message import DecodeError

from cloud.errors import NotFound
from cloud.ingest.errors import TooManyStreams, Unauthenticated
from cloud.ingest.status import call_status
from cloud.ingest.tls import require_certificate_names
from cloud.ingest.wire import MalformedMessage

logger = logging.getLogger(__name__)

# grpc-stubs make the interceptor generic; grpcio's runtime class is not subscriptable.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.ServerInterceptor

StreamBehavior = Callable[[Iterator[Any], grpc.ServicerContext], Iterator[Any]]

_BEARER: Final = "bearer "
REAUTHENTICATE_S: Final = 1.0
_MIN_WATCH_S: Final = 0.05
MAX_STREAMS_PER_DEVICE: Final = 4
"""An edge holds one stream per lane (crops, records); the rest is room for a stream the server
has not yet seen end when the edge retries."""
_device: contextvars.ContextVar[str] = contextvars.ContextVar("ingest_device")


def authenticated_device() -> str:
    """The id of the device the current call authenticated as.

    Only valid inside a method guarded by `DeviceAuthInterceptor`; raises LookupError elsewhere.
    """
    return _device.get()


def bearer_token(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The token of the ``authorization: Bearer <token>`` entry; else raise `Unauthenticated`."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if len(values) != 1 or not isinstance(values[0], str):
        raise Unauthenticated("send exactly one 'authorization: Bearer <token>' metadata entry")
    scheme, token = values[0][: len(_BEARER)], values[0][len(_BEARER) :].strip()
    if scheme.lower() != _BEARER or not token:
        raise Unauthenticated("the authorization entry must be 'Bearer <token>'")
    return token


class DeviceAuthInterceptor(_ServerInterceptor):
    """Authenticates every call of `service` with `authenticate(token) -> device id`.

    At most `max_streams` calls of the service run at once, and at most
    `max_streams_per_device` of one device (an edge uses one per lane): a call beyond either
    fails at once with RESOURCE_EXHAUSTED (the edge retries with backoff) instead of waiting for
    a thread, so one device holding streams open cannot take every slot of the fleet.
    With `device_certificates` (mTLS), the call's client certificate must also name the device
    the token belongs to (`cloud.ingest.tls`). A stream's token is checked again when a request
    arrives more than `reauthenticate_s` after the last check, so a token revoked while its
    stream is open ends that stream (UNAUTHENTICATED) within that time, at a cost of one lookup
    per stream and interval rather than per item. A stream that sends nothing is checked by
    `_OpenStreams` on the same interval and cancelled once its token is revoked, so a revoked
    device cannot keep a stream, and its slot, by going quiet.

    `authenticate` raises `NotFound` for an unknown or revoked token, which becomes
    UNAUTHENTICATED; any other error (the database being down) keeps its own status, so that a
    device does not take an outage for a revoked credential.
    """

    def __init__(
        self,
        service: str,
        authenticate: Callable[[str], str],
        *,
        max_streams: int,
        max_streams_per_device: int = MAX_STREAMS_PER_DEVICE,
        reauthenticate_s: float = REAUTHENTICATE_S,
        device_certificates: bool = False,
    ) -> None:
        self._prefix = f"/{service}/"
        self._authenticate = authenticate
        self._slots = threading.BoundedSemaphore(max_streams)
        self._max_per_device = max_streams_per_device
        self._device_streams: Counter[str] = Counter()
        self._device_streams_lock = threading.Lock()
        self._reauthenticate_s = reauthenticate_s
        self._device_certificates = device_certificates
        self._open = _OpenStreams(authenticate, reauthenticate_s)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith(self._prefix):
            return handler
        if handler.stream_stream is None or handler.request_deserializer is None:
            # Every ingest method streams protobuf messages both ways; a new kind of method
            # needs its own wrapper.
            raise TypeError(f"{handler_call_details.method} is not a bidirectional stream")
        # The guard parses the requests, not grpcio: grpcio answers a request that does not
        # parse itself and then, racing the method's own end, sends a second status that never
        # completes, so the call stays in the server for good and the server cannot stop.
        return grpc.stream_stream_rpc_method_handler(
            self._guard(handler.stream_stream, handler.request_deserializer),
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )

    def _guard(self, behavior: StreamBehavior, parse: Callable[[bytes], Any]) -> StreamBehavior:
        def guarded(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[Any]:
            # Refused before any work, authentication included: a full server must answer fast.
            slot = self._slots.acquire(blocking=False)
            # Like Django's request_started/finished: drop connections that broke or aged out.
            close_old_connections()
            try:
                if not slot:
                    raise TooManyStreams("the server is serving its maximum of upload streams")
                token = bearer_token(context.invocation_metadata())
                device_id = self._device_of(token, context)
                call = contextvars.copy_context()
                call.run(_device.set, device_id)
                checked = self._checked(requests, parse, token)
                with self._device_slot(device_id), self._open.watching(token, context):
                    yield from _steps(call, call.run(behavior, checked, context))
            except Exception as err:
                # The call boundary: whatever escaped the method ends the call here.
                if not context.is_active():
                    # Cancelled, past its deadline, or refused by grpcio (an oversized message):
                    # the client already has its status and nothing more can be sent.
                    logger.debug("ingest call ended early: %s", err)
                    return
                code, details = call_status(err)
                logger.warning(
                    "ended ingest call from %s with %s: %s", context.peer(), code.name, err
                )
                context.abort(code, details)
            finally:
                if slot:
                    self._slots.release()
                close_old_connections()

        return guarded

    @contextlib.contextmanager
    def _device_slot(self, device_id: str) -> Iterator[None]:
        """One of the device's stream slots while the block runs; `TooManyStreams` if none."""
        with self._device_streams_lock:
            if self._device_streams[device_id] >= self._max_per_device:
                raise TooManyStreams(
                    f"device {device_id!r} already has {self._max_per_device} upload streams open"
                )
            self._device_streams[device_id] += 1
        try:
            yield
        finally:
            with self._device_streams_lock:
                self._device_streams[device_id] -= 1
                if not self._device_streams[device_id]:
                    del self._device_streams[device_id]

    def _device_of(self, token: str, context: grpc.ServicerContext) -> str:
        """The id of the device whose active token the call carries; raise `Unauthenticated`.

        With device certificates, the call's certificate must name that device too
        (`PermissionDenied` otherwise).
        """
        try:
            device_id = self._authenticate(token)
        except NotFound as err:
            raise Unauthenticated("unknown or revoked device token") from err
        if self._device_certificates:
            require_certificate_names(context, device_id)
        return device_id

    def _checked(
        self, requests: Iterator[bytes], parse: Callable[[bytes], Any], token: str
    ) -> Iterator[Any]:
        """The requests as `parse` reads them, while `token` stays active.

        A request that does not parse ends the call (`MalformedMessage`, INVALID_ARGUMENT): no
        ack can name an item that has no id. A token found revoked ends it too
        (`Unauthenticated`), before the request that found it is read.
        """
        checked_at = time.monotonic()
        for number, request in enumerate(requests, start=1):
            if time.monotonic() - checked_at >= self._reauthenticate_s:
                try:
                    self._authenticate(token)
                except NotFound as err:
                    raise Unauthenticated("the device token was revoked") from err
                checked_at = time.monotonic()
            try:
                yield parse(request)
            except DecodeError as err:
                raise MalformedMessage(f"request {number} does not decode: {err}") from err


class _OpenStreams:
    """The tokens of the open streams, checked every `interval` by one thread, which cancels
    the streams of a revoked token.

    A stream blocked waiting for its next request cannot check its own token, and nothing can
    end it with a status of our choosing from another thread; cancelling it ends it (the
    device sees CANCELLED, retries, and its next call is refused UNAUTHENTICATED). The thread
    runs only while streams are open: one lookup per distinct open token and interval.
    """

    def __init__(self, authenticate: Callable[[str], str], interval: float) -> None:
        self._authenticate = authenticate
        self._interval = max(interval, _MIN_WATCH_S)
        self._lock = threading.Lock()
        self._streams: dict[int, tuple[str, grpc.ServicerContext]] = {}
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watching(self, token: str, context: grpc.ServicerContext) -> Iterator[None]:
        """Watch the stream's token while the block runs."""
        key = id(context)
        with self._lock:
            self._streams[key] = (token, context)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ingest-token-watch", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._streams[key]

    def _run(self) -> None:
        try:
            while True:
                time.sleep(self._interval)
                with self._lock:
                    if not self._streams:
                        # Under the lock, so that a stream added now starts a new thread.
                        self._thread = None
                        return
                    streams = list(self._streams.values())
                self._cancel_revoked(streams)
        finally:
            connections.close_all()

    def _cancel_revoked(self, streams: list[tuple[str, grpc.ServicerContext]]) -> None:
        close_old_connections()
        revoked = set()
        for token in {token for token, _ in streams}:
            try:
                self._authenticate(token)
            except NotFound:
                revoked.add(token)
            except Exception:
                # The watch's loop boundary: a database outage must not end the watch; the
                # streams check again when their next request arrives.
                logger.exception("could not check the token of an open ingest stream")
        for token, context in streams:
            if token in revoked and context.is_active():
                logger.warning("cancelled an ingest stream of a revoked token (%s)", context.peer())
                context.cancel()  # type: ignore[no-untyped-call]  # untyped in grpc-stubs


def _steps(call: contextvars.Context, responses: Iterator[Any]) -> Iterator[Any]:
    """Resume `responses` inside `call` until it ends.

    The method is a generator that grpcio resumes once per response, possibly after other
    calls ran on the same thread; running every step in the call's own context makes the
    device id visible to each of them.
    """
    try:
        while True:
            try:
                yield call.run(next, responses)
            except StopIteration:
                return
    finally:
        if isinstance(responses, Generator):
            # A cancelled call closes this generator; closing the method's generator here runs
            # its cleanup (the servicer's last embedding batch) now, not whenever it is collected.
            call.run(responses.close)
