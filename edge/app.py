"""The composition root: builds every component from the config, runs the cameras, stops them.

`run(config)` builds the detector (one, shared), the track journal, the delivery layer, and per
camera a source, a tracker and a `PythonPipeline` (which keeps the camera's tracks and best
crops), each camera on its own thread. One stop event ends everything: SIGINT/SIGTERM set it, and
so does a failing camera.

Start after a crash: the journal (`edge.journal`) first ends the tracks a dead process left (a
final summary each, one `tracks.interrupted` event per camera, counted in
`Journal.tracks_interrupted_total`), then each camera reading a file it read before resumes
after the last frame whose records were handed on.

Failure policy: a camera whose source fails for good (a corrupt or truncated file, a stream
unreachable for its whole reconnection budget, when it has one) ends alone: it reports
`camera.failed`, shows as disconnected in the heartbeat, and the other cameras go on; the agent
exits 1 when they are done. One bad camera must not blind a site's dozen healthy ones, and a live
source's own watchdog (`edge.sources.capture`) already reconnects it with capped backoff, so
restarting the agent would add nothing. A camera whose pipeline hits a bug stops the whole agent
(exit 1), so that the supervisor (systemd, Kubernetes) restarts it and the bug shows.

With `pipeline: {type: deepstream}` one `DeepStreamPipeline` runs every camera instead (decode,
inference and tracking on the GPU, then the same track ledgers, journal and delivery); it runs
on the main thread's GLib loop, files are not resumed, and models are not swapped while it runs
(no deployer: a new model is a restart).

Shutdown: cameras end their tracks (crops and summaries of objects still in view are spooled),
the delivery layer gets `delivery.drain_timeout_s` to empty the outbox, then stops. A second
signal skips the drain; a third one kills the process the default way.
"""

from __future__ import annotations

import logging
import pkgutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Protocol

from edge.config import EdgeConfig
from edge.delivery import CountingDelivery, DeliveryStats, OutboxDelivery
from edge.deploy.agent import Deployer
from edge.deploy.swap import LoadedModel, ModelSlot
from edge.detectors.base import Detector
from edge.detectors.model import load_model_spec
from edge.detectors.registry import create_detector
from edge.detectors.trt import TrtSettings
from edge.errors import ConfigError, SourceError
from edge.health.server import HealthServer
from edge.health.state import AgentHealth, CameraHealth, CameraState
from edge.journal import Journal, journal_path
from edge.logs import ErrorTally
from edge.pipelines.base import CameraSettings, PipelineSink, PipelineStats
from edge.pipelines.deepstream.settings import DeepStreamSettings
from edge.pipelines.python import PythonPipeline
from edge.pipelines.registry import PIPELINES
from edge.records import CameraEvent, EventSeverity, ModelRef
from edge.sources.base import SourceStatus
from edge.sources.registry import open_source
from edge.tracking.registry import create_tracker
from edge.transport.heartbeat import CameraSample
from sightline.device.v1 import metrics_pb2

if TYPE_CHECKING:
    from edge.pipelines.deepstream.pipeline import DeepStreamPipeline

logger = logging.getLogger(__name__)

_JOIN_POLL_S = 0.2


class Delivery(PipelineSink, Protocol):
    """What the app needs from the delivery layer, beyond accepting pipeline output.

    `delivery.OutboxDelivery` (outbox + MQTT + gRPC) and `delivery.CountingDelivery` implement
    it; tests pass their own.
    """

    def start(self) -> None:
        """Start delivering in the background."""

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        """Wait (at most `timeout_s`, until `abort`) for pending output to be delivered."""

    def close(self) -> None:
        """Stop the background work and release resources."""

    def stats(self) -> DeliveryStats:
        """Counters since `start`."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run of the agent did."""

    frames: int
    """Frames run through the detector, all cameras."""
    frames_decoded: int
    detections: int
    """Detector boxes passed to the tracker, weak ones included."""
    tracked: int
    """Detections matched to a confirmed track."""
    tracks: int
    crops_queued: int
    crops_sent: int
    tracks_interrupted: int
    """Tracks a previous run left unfinished (crash), ended at this start."""
    seconds: float
    failed_cameras: tuple[str, ...]
    delivery_failures: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """0 for a clean run (files ended, max frames reached or stopped by a signal), else 1."""
        return 1 if self.failed_cameras or self.delivery_failures else 0


class _Shutdown:
    """The stop event plus the signals that set it (see the module docstring)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.skip_drain = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stop.is_set():
            logger.info(
                "%s received: stopping (send it again to skip the final delivery)", name,
                extra={"event": "agent.stopping"},
            )  # fmt: skip
            self.stop.set()
            return
        logger.warning(
            "%s received again: skipping the final delivery", name,
            extra={"event": "agent.skip_drain"},
        )  # fmt: skip
        self.skip_drain.set()
        # The next signal gets the default behaviour, so a stuck agent can still be killed.
        signal.signal(signum, signal.SIG_DFL)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT/SIGTERM while inside; only possible on the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def build_delivery(
    config: EdgeConfig,
    model: ModelRef,
    *,
    tracks_interrupted: Callable[[], int] = lambda: 0,
    cameras: Callable[[], Sequence[CameraSample]] = tuple,
    downstream: Deployer | None = None,
    errors: Callable[[], tuple[int, str]] = lambda: (0, ""),
) -> OutboxDelivery | CountingDelivery:
    """The delivery layer the config asks for: outbox + links, or counting only.

    `tracks_interrupted`, `cameras` and `errors` feed the heartbeat (`edge.transport.heartbeat`);
    `downstream` gets the desired state and commands.
    """
    if config.delivery is None:
        logger.warning("no delivery configured: crops, tracks and events are counted, not kept")
        return CountingDelivery()
    return OutboxDelivery(
        config.delivery,
        device_id=config.device.id,
        site=config.device.site,
        hardware_profile=config.device.hardware_profile,
        camera_models=[(camera.id, model) for camera in config.cameras],
        tracks_interrupted=tracks_interrupted,
        cameras=cameras,
        downstream=downstream,
        errors=errors,
    )


def _event(name: str, severity: EventSeverity, camera_id: str, message: str) -> CameraEvent:
    return CameraEvent(name, severity, camera_id, datetime.now(UTC), message)


class _Camera:
    """One camera's pipeline and the thread that runs it."""

    def __init__(
        self,
        camera: CameraSettings,
        config: EdgeConfig,
        detector: Detector | ModelSlot,
        delivery: Delivery,
        journal: Journal,
        max_frames: int | None,
    ) -> None:
        self.id = camera.id
        self._target_fps = camera.source.fps or 0.0
        self._delivery = delivery
        self._detector = detector
        camera_journal = journal.camera(camera.id, camera.source.file_identity())
        source = open_source(
            camera.source,
            camera_id=camera.id,
            on_status=self._on_status,
            resume_after=camera_journal.resume_after,
        )
        self.pipeline = PythonPipeline(
            camera,
            source=source,
            detector=detector,
            tracker=create_tracker(config.tracker, camera_id=camera.id),
            crops=config.crops,
            sink=delivery,
            max_frames=max_frames,
            journal=camera_journal,
        )
        self.failed = False
        self.thread: threading.Thread | None = None
        self._status: SourceStatus | None = None
        self._reconnects = 0

    def sample(self) -> CameraSample:
        """The camera for the heartbeat. Connected: running, and its source's last report was
        CONNECTED, or (a file, which reports nothing) it has decoded frames. Takes the detector
        call times collected since the previous sample (only the heartbeat calls this)."""
        stats = self.pipeline.stats()
        # Read each time: a desired state may have swapped the model in since the last sample.
        if isinstance(self._detector, ModelSlot):
            model = self._detector.current
        else:
            spec = self._detector.spec
            model = LoadedModel(self._detector, ModelRef(spec.name, spec.version), spec.sha256)
        running = self.thread is not None and self.thread.is_alive()
        reported = self._status
        return CameraSample(
            camera_id=self.id,
            connected=running
            and (
                reported is SourceStatus.CONNECTED
                or (reported is None and stats.frames_decoded > 0)
            ),
            frames_decoded=stats.frames_decoded,
            frames=stats.frames,
            detections=stats.detections,
            model_name=model.ref.name,
            model_version=model.ref.version,
            model_sha256=model.sha256,
            detector_latencies_ms=self.pipeline.detector_latency.take(),
            target_fps=self._target_fps,
            gated=stats.gated,
            dropped=stats.dropped,
        )

    def health(self) -> CameraHealth:
        """The camera for `/metrics` and the health checks (takes nothing from the heartbeat)."""
        stats = self.pipeline.stats()
        if self.failed:
            state = CameraState.FAILED
        elif self.thread is None:
            state = CameraState.STARTING
        elif not self.thread.is_alive():
            state = CameraState.ENDED
        elif self._status is SourceStatus.DISCONNECTED:
            state = CameraState.RECOVERING
        elif self._status is SourceStatus.CONNECTED or stats.frames_decoded > 0:
            state = CameraState.CONNECTED
        else:
            state = CameraState.STARTING
        return CameraHealth(
            camera_id=self.id,
            state=state,
            stats=stats,
            latency=self.pipeline.detector_latency.histogram(),
            reconnects=self._reconnects,
        )

    def _on_status(self, status: SourceStatus, detail: str) -> None:
        self._status = status
        if status is SourceStatus.DISCONNECTED:
            self._reconnects += 1
        severity = EventSeverity.INFO if status is SourceStatus.CONNECTED else EventSeverity.WARNING
        self._delivery.event(_event(f"camera.{status.value}", severity, self.id, detail))

    def start(self, stop: threading.Event) -> None:
        self.thread = threading.Thread(
            target=self._run, args=(stop,), name=f"camera-{self.id}", daemon=True
        )
        self.thread.start()

    def _run(self, stop: threading.Event) -> None:
        extra = {"camera_id": self.id}
        try:
            self.pipeline.run(stop)
        except SourceError as err:
            # This camera only (see the failure policy): the others keep running.
            logger.error("%s", err, extra={**extra, "event": "camera.failed"})
            self._fail(str(err))
        except Exception as err:
            # Thread boundary: log the bug with its traceback and stop the agent (fail fast).
            logger.exception(
                "camera %s: pipeline failed", self.id, extra={**extra, "event": "camera.failed"}
            )
            self._fail(f"pipeline failed: {err!r}")
            stop.set()

    def _fail(self, message: str) -> None:
        self.failed = True
        self._delivery.event(_event("camera.failed", EventSeverity.ERROR, self.id, message))


def run(
    config: EdgeConfig,
    *,
    max_frames: int | None = None,
    delivery: Delivery | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Run the agent until every camera is done or `stop` is set; return what it did.

    `max_frames` ends each camera after that many processed frames (python pipeline only).
    `delivery` replaces the one the config describes (tests). Raises ModelError,
    BackendUnavailable or ConfigError when a component cannot be built; camera failures are
    reported in the summary instead.
    """
    if isinstance(config.pipeline, DeepStreamSettings):
        return _run_deepstream(
            config, config.pipeline, delivery, _Shutdown(stop or threading.Event())
        )
    shutdown = _Shutdown(stop or threading.Event())
    started = time.perf_counter()
    errors = ErrorTally()
    # Closed in reverse: deployer, delivery, journal, detectors, tally.
    with ExitStack() as resources:
        # Counts this run's errors for the heartbeat, whoever logs them.
        logging.getLogger().addHandler(errors)
        resources.callback(logging.getLogger().removeHandler, errors)
        detector = create_detector(config.detector)
        model = ModelRef(detector.spec.name, detector.spec.version)
        initial = LoadedModel(detector, model, detector.spec.sha256)
        slots = {camera.id: ModelSlot(initial) for camera in config.cameras}
        resources.callback(_close_models, slots)
        outbox = config.delivery.outbox.path if config.delivery else None
        journal = Journal(journal_path(config.journal, outbox))
        resources.callback(journal.close)
        cameras: list[_Camera] = []
        deployer = _deployer(config, slots) if delivery is None else None
        if delivery is None:
            built = build_delivery(
                config,
                model,
                tracks_interrupted=journal.tracks_interrupted_total,
                cameras=lambda: [camera.sample() for camera in cameras],
                downstream=deployer,
                errors=errors.snapshot,
            )
            if deployer is not None:
                deployer.attach(built)
            delivery = built
        resources.callback(delivery.close)
        cameras.extend(
            _Camera(camera, config, slots[camera.id], delivery, journal, max_frames)
            for camera in config.cameras
        )
        if config.metrics.enabled:
            # Closed before the delivery (reverse order), after the drain: probes answer
            # "stopping" while the agent drains.
            server = HealthServer(config.metrics, _health(cameras, delivery, shutdown.stop))
            resources.callback(server.close)
            server.start()
        if deployer is not None:
            deployer.start()
            resources.callback(deployer.close)
        delivery.start()
        interrupted = journal.recover(delivery)
        with shutdown.installed():
            _run_cameras(cameras, shutdown.stop)
            timeout = config.delivery.drain_timeout_s if config.delivery else 0.0
            delivery.drain(timeout, shutdown.skip_drain)
        delivered = delivery.stats()
    summary = _summarise(
        [camera.pipeline.stats() for camera in cameras],
        delivered,
        interrupted,
        time.perf_counter() - started,
        tuple(camera.id for camera in cameras if camera.failed),
    )
    logger.info(
        "run summary: %d frames (%d decoded), %d detections (%d on tracks), %d tracks, "
        "%d crops queued, %d sent, %.1fs",
        summary.frames, summary.frames_decoded, summary.detections, summary.tracked, summary.tracks,
        summary.crops_queued, summary.crops_sent, summary.seconds, extra={"event": "agent.stopped"},
    )  # fmt: skip
    return summary


def _run_deepstream(
    config: EdgeConfig,
    settings: DeepStreamSettings,
    delivery: Delivery | None,
    shutdown: _Shutdown,
) -> RunSummary:
    """`run` for the DeepStream pipeline (see the module docstring)."""
    detector = config.detector
    if not isinstance(detector, TrtSettings):  # EdgeConfig checks it; this tells mypy
        raise ConfigError("pipeline type deepstream needs detector type trt")
    started = time.perf_counter()
    errors = ErrorTally()
    failed: tuple[str, ...] = ()
    with ExitStack() as resources:
        logging.getLogger().addHandler(errors)
        resources.callback(logging.getLogger().removeHandler, errors)
        outbox = config.delivery.outbox.path if config.delivery else None
        journal = Journal(journal_path(config.journal, outbox))
        resources.callback(journal.close)
        if delivery is None:
            spec = load_model_spec(detector.model)
            model = ModelRef(spec.name, spec.version)
            delivery = build_delivery(
                config,
                model,
                tracks_interrupted=journal.tracks_interrupted_total,
                errors=errors.snapshot,
            )
        resources.callback(delivery.close)
        # No file identity: DeepStream reads files from the start, so no position is kept.
        journals = {camera.id: journal.camera(camera.id, None) for camera in config.cameras}
        # Resolved on use: the module is the one that knows gi and pyds (it imports them in run).
        backend = pkgutil.resolve_name(PIPELINES[settings.type])
        pipeline: DeepStreamPipeline = backend(
            config.cameras,
            settings=settings,
            detector=detector,
            tracker=config.tracker,
            crops=config.crops,
            sink=delivery,
            journals=journals,
        )
        delivery.start()
        interrupted = journal.recover(delivery)
        with shutdown.installed():
            try:
                stats = pipeline.run(shutdown.stop)
            except SourceError as err:
                logger.error("%s", err)
                failed = tuple(camera.id for camera in config.cameras)
                stats = pipeline.stats()
            timeout = config.delivery.drain_timeout_s if config.delivery else 0.0
            delivery.drain(timeout, shutdown.skip_drain)
        delivered = delivery.stats()
    return _summarise(
        list(stats.values()), delivered, interrupted, time.perf_counter() - started, failed
    )


def _health(
    cameras: Sequence[_Camera], delivery: Delivery, stop: threading.Event
) -> Callable[[], AgentHealth]:
    """What `/metrics` and the health checks read, at each request."""
    # Only the outbox delivery has lanes; a test's own delivery has none.
    lanes: Callable[[], Sequence[metrics_pb2.LaneMetrics]] = getattr(delivery, "lanes", list)

    def snapshot() -> AgentHealth:
        return AgentHealth(
            cameras=[camera.health() for camera in cameras],
            lanes=lanes(),
            delivery_failures=delivery.stats().failures,
            stopping=stop.is_set(),
        )

    return snapshot


def _deployer(config: EdgeConfig, slots: dict[str, ModelSlot]) -> Deployer | None:
    """The deployer, when the device hears from the cloud (MQTT configured)."""
    if config.delivery is None or config.delivery.mqtt is None:
        return None
    labels = {camera.id: camera.labels for camera in config.cameras}
    # Beside the outbox by default, as the journal is: one agent's state in one place.
    models_dir = config.delivery.outbox.path.parent / "models"
    return Deployer(config.deploy, config.detector, slots, labels, models_dir=models_dir)


def _close_models(slots: dict[str, ModelSlot]) -> None:
    """Close every detector the cameras ran or were offered, each once."""
    models = {id(model): model for slot in slots.values() for model in (slot.current, slot.wanted)}
    for model in models.values():
        model.detector.close()


def _run_cameras(cameras: list[_Camera], stop: threading.Event) -> None:
    for camera in cameras:
        camera.start(stop)
    for camera in cameras:
        assert camera.thread is not None  # started just above
        # Short joins keep the main thread responsive to signals.
        while camera.thread.is_alive():
            camera.thread.join(_JOIN_POLL_S)


def _summarise(
    stats: list[PipelineStats],
    delivery: DeliveryStats,
    interrupted: int,
    seconds: float,
    failed: tuple[str, ...],
) -> RunSummary:
    return RunSummary(
        frames=sum(s.frames for s in stats),
        frames_decoded=sum(s.frames_decoded for s in stats),
        detections=sum(s.detections for s in stats),
        tracked=sum(s.tracked for s in stats),
        tracks=sum(s.tracks for s in stats),
        crops_queued=delivery.crops_queued,
        crops_sent=delivery.crops_sent,
        tracks_interrupted=interrupted,
        seconds=seconds,
        failed_cameras=failed,
        delivery_failures=delivery.failures,
    )
