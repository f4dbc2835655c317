"""The `Deployer`: converges the device on its desired state and answers commands.

The MQTT link hands it each desired state and command on its network thread (`on_message`,
which only queues) and tells it about every connect (`on_connected`); one worker thread does
the rest, in arrival order:

- a desired state whose generation is new (`generations.decide`) is applied all or nothing:
  for each model it names that a camera does not run already, the verified copy kept on disk
  (`models_dir/<sha256>/`, checked again) or else a download through its expiring URL
  (`download`), then `verify` (size, sha256, manifest, the operator's signature against
  `trusted_keys`), then prepare (the configured detector backend loads it: ONNX Runtime on
  the CPU; a TensorRT backend would build or reuse its engine there, cached by the model's
  sha256, GPU, TensorRT version and precision, which `ModelSpec.sha256` gives it), then a
  warm-up on a frame, then a check that each camera's kept classes exist in it. Only when every
  model passed are they offered to the cameras' `ModelSlot`s, which swap them in between two
  frames. Any failure leaves every camera on its running model and is reported as the reason;
- the agent image a new desired state names goes to the host (`upgrade`), which switches the
  agent's container to it; an upgrade the host rolled back is reported as the error;
- `report_state` (a command) and every connect publish `ReportedState`: the generation
  processed last, the models the cameras really run, the agent's image, and why the last one
  was not applied;
- a command is answered once per request id (`commands.CommandLog`) and not run after its
  expiry;
- the desired state applied last is kept (`models_dir/applied.pb`) and restored at start from
  the verified copies on disk, so a restarted agent goes back to its deployed models within its
  first frames, also without a connection; the retained desired state supersedes it on connect.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Protocol

import numpy as np
from google.protobuf.message import DecodeError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.deploy.commands import CommandLog, expired
from edge.deploy.download import DownloadSettings, download
from edge.deploy.generations import Decision, decide
from edge.deploy.swap import LoadedModel, ModelSlot, swap_check
from edge.deploy.upgrade import AgentUpgrades, AgentUpgradeSettings
from edge.deploy.verify import Expected, trusted_keys, verify
from edge.detectors.base import DetectorSettings, ModelSettings
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import create_detector
from edge.errors import BackendUnavailable, DeployRefused
from edge.records import ModelRef
from models.errors import ModelError
from sightline.device.v1 import command_pb2, state_pb2
from sightline.device.v1.topics import Downstream, DownstreamTopic

logger = logging.getLogger(__name__)

REPORT_STATE: Final = "report_state"
"""The command that has the device publish its ReportedState now."""
MANIFEST_FILE: Final = "manifest.toml"
MODEL_FILE: Final = "model.onnx"
APPLIED_FILE: Final = "applied.pb"
"""The DesiredState applied last, in `models_dir`, restored at start."""
# Warm-up frame: a black VGA frame through the real preprocessing, as a camera frame would go.
_WARM_UP_FRAME: Final = (480, 640, 3)
_POLL_S: Final = 0.5
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class DeploySettings(BaseModel):
    """How the device takes models from the cloud."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trusted_keys: tuple[str, ...] = Field(
        default=(),
        description="Operator public keys (`ed25519:<base64>`, as `python -m cloud models "
        "keygen` prints them) whose model signatures this device accepts. Empty: every "
        "deployed model is refused.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where verified models are kept, one folder per sha256, with the desired "
        "state applied last, so that a restarted agent runs them again at once without a "
        "download (they are verified again on use). null: a `models` folder beside the outbox.",
    )
    download: DownloadSettings = Field(
        default=DownloadSettings(), description="Limits and retries of model downloads."
    )
    swap_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long to wait for the cameras to take a new model before reporting.",
    )
    agent_upgrade: AgentUpgradeSettings | None = Field(
        default=None,
        description="How the agent hands a desired agent image to its host, which upgrades "
        "the container (docker/edge-jetson). null: the host does not; a desired agent image "
        "other than the running one is reported as not taken.",
    )

    @field_validator("trusted_keys")
    @classmethod
    def _valid_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        trusted_keys(keys)  # ValueError names the bad key
        return keys


_Identity = tuple[ModelRef, str]
"""A model as a camera runs it: registry name and version, and the file's sha256."""


def _identity(entry: state_pb2.DesiredCameraModel) -> _Identity:
    return ModelRef(entry.model.name, entry.model.version), entry.sha256


class Reporter(Protocol):
    """Where the deployer's answers go (the MQTT link, through the delivery layer)."""

    def publish_reported(self, state: state_pb2.ReportedState) -> bool:
        """Send a ReportedState; False when not connected."""

    def publish_command_result(self, result: command_pb2.CommandResult) -> bool:
        """Send a CommandResult; False when not connected."""


@dataclass(frozen=True, slots=True)
class _Job:
    kind: str
    """"desired", "restore", "command" or "report"."""
    payload: bytes = b""
    command: str = ""


class Deployer:
    """See the module docstring. `slots`: each camera's model slot; `camera_labels`: the
    classes each camera keeps (empty: all); `detector`: the configured detector settings, which
    a deployed model runs with; `models_dir`: where models are kept unless the settings say."""

    def __init__(
        self,
        settings: DeploySettings,
        detector: DetectorSettings,
        slots: Mapping[str, ModelSlot],
        camera_labels: Mapping[str, tuple[str, ...]],
        *,
        models_dir: Path,
    ) -> None:
        self._settings = settings
        self._trusted = trusted_keys(settings.trusted_keys)
        self._detector = detector
        self._slots = dict(slots)
        self._camera_labels = dict(camera_labels)
        self._stop = threading.Event()
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._reporter: Reporter | None = None
        self._commands = CommandLog()
        self._upgrades = AgentUpgrades(settings.agent_upgrade)
        self._applied = 0
        self._processed = 0
        self._config_version = ""
        self._error = ""
        self._restoring = False
        self._models_dir = settings.models_dir or models_dir
        self._applied_file = self._models_dir.expanduser() / APPLIED_FILE
        self._thread: threading.Thread | None = None

    # Called by the MQTT link on its network thread: queue only.

    def on_message(self, topic: DownstreamTopic, payload: bytes) -> None:
        """Queue a desired state or a command."""
        kind = "desired" if topic.kind is Downstream.DESIRED else "command"
        self._jobs.put(_Job(kind, payload, topic.command))

    def on_connected(self) -> None:
        """Queue a report of the state the device runs (on every connect)."""
        self._jobs.put(_Job("report"))

    # Lifecycle.

    def attach(self, reporter: Reporter) -> None:
        """Send reports and command results through `reporter` (set before `start`)."""
        self._reporter = reporter

    def start(self) -> None:
        """Start the worker thread; it runs until `close`. It first restores the desired state
        applied last, from the verified copies kept on disk (no download)."""
        try:
            applied = self._applied_file.read_bytes()
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.warning("cannot read %s: %s", self._applied_file, err.strerror)
        else:
            self._jobs.put(_Job("restore", applied))
        self._thread = threading.Thread(target=self._work, name="deployer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker (a download in progress gives up) and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            try:
                self._run(job)
            except Exception:
                # Thread boundary: one bad message must not end downstream handling.
                logger.exception("handling a %s message failed", job.kind)

    def _run(self, job: _Job) -> None:
        if job.kind in ("desired", "restore"):
            self._desired(job.payload, restoring=job.kind == "restore")
        elif job.kind == "command":
            self._command(job.command, job.payload)
        else:
            self._report()

    # Desired state.

    def _desired(self, payload: bytes, *, restoring: bool = False) -> None:
        try:
            desired = state_pb2.DesiredState.FromString(payload)
        except DecodeError as err:
            logger.warning("ignored an unreadable desired state: %s", err)
            return
        decision = decide(desired.generation, self._applied)
        if decision is not Decision.APPLY:
            logger.info("desired generation %d: %s", desired.generation, decision.value)
            self._report()
            return
        what = "restoring" if restoring else "applying"
        logger.info("%s desired generation %d", what, desired.generation)
        # Independent of the models: the host upgrades the container, not this process.
        self._upgrades.want(desired.agent_image)
        self._restoring = restoring
        try:
            self._apply(desired)
        except DeployRefused as err:
            if restoring:
                # Not a refusal of anything the cloud sent now: the retained desired state,
                # on connect, is applied afresh.
                logger.warning("desired generation %d not restored: %s", desired.generation, err)
                return
            self._processed, self._error = desired.generation, str(err)
            logger.error("desired generation %d not applied: %s", desired.generation, err)
        else:
            self._processed = desired.generation
            self._applied, self._error = desired.generation, ""
            self._config_version = desired.config_version
            logger.info("desired generation %d applied", desired.generation)
            if restoring:
                return  # reported on connect
            self._save(payload)
        finally:
            self._restoring = False
        self._report()

    def _save(self, payload: bytes) -> None:
        """Keep the applied desired state, so that a restarted agent runs it at once."""
        partial = self._applied_file.with_suffix(".partial")
        try:
            self._applied_file.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(payload)
            partial.replace(self._applied_file)
        except OSError as err:
            # The models run; only a restart would fall back to the configured ones until the
            # retained desired state arrives again.
            logger.warning("cannot keep the applied state in %s: %s", partial, err.strerror)

    def _apply(self, desired: state_pb2.DesiredState) -> None:
        plan = self._plan(desired)
        prepared: dict[_Identity, LoadedModel] = {}
        try:
            for camera_id, entry in plan.items():
                wanted = self._slots[camera_id].wanted
                if (wanted.ref, wanted.sha256) == _identity(entry):
                    continue
                model = prepared.get(_identity(entry)) or self._prepare(entry)
                prepared[_identity(entry)] = model
                reason = swap_check(self._camera_labels[camera_id], model.detector.spec.labels)
                if reason is not None:
                    raise DeployRefused(f"camera {camera_id}: {reason}")
        except BaseException:
            for model in prepared.values():
                model.detector.close()
            raise
        self._swap(plan, prepared)

    def _plan(self, desired: state_pb2.DesiredState) -> dict[str, state_pb2.DesiredCameraModel]:
        """Which model each camera must run: an entry for every camera ('') applies unless a
        camera has its own."""
        plan: dict[str, state_pb2.DesiredCameraModel] = {}
        for entry in desired.cameras:
            if entry.camera_id == "":
                for camera_id in self._slots:
                    plan.setdefault(camera_id, entry)
        for entry in desired.cameras:
            if entry.camera_id == "":
                continue
            if entry.camera_id not in self._slots:
                raise DeployRefused(f"this device has no camera {entry.camera_id!r}")
            plan[entry.camera_id] = entry
        return plan

    def _swap(
        self,
        plan: Mapping[str, state_pb2.DesiredCameraModel],
        prepared: Mapping[_Identity, LoadedModel],
    ) -> None:
        offered: list[tuple[ModelSlot, LoadedModel, LoadedModel]] = []
        for camera_id, entry in plan.items():
            model = prepared.get(_identity(entry))
            if model is None:
                continue
            slot = self._slots[camera_id]
            before = slot.current
            never_taken = slot.offer(model)
            if never_taken is not None:
                self._retire(never_taken)
            offered.append((slot, model, before))
        for slot, model, before in offered:
            if not slot.wait_taken(model, self._settings.swap_timeout_s):
                logger.warning("a camera has not taken model %s yet (idle?)", model.ref)
                continue
            self._retire(before)

    def _retire(self, model: LoadedModel) -> None:
        """Close `model` unless a camera still runs it or is about to."""
        if all(
            model is not slot.current and model is not slot.wanted for slot in self._slots.values()
        ):
            model.detector.close()

    def _prepare(self, entry: state_pb2.DesiredCameraModel) -> LoadedModel:
        if not _SHA256.fullmatch(entry.sha256):
            # It names a folder on disk: nothing but a digest may get there.
            raise DeployRefused(f"desired sha256 {entry.sha256[:80]!r} is malformed")
        expected = Expected(
            name=entry.model.name,
            version=entry.model.version,
            sha256=entry.sha256,
            size=entry.size,
            manifest=entry.manifest,
            signature=entry.signature,
            key_id=entry.key_id,
        )
        folder = self._models_dir.expanduser() / entry.sha256
        manifest_path, model_path = folder / MANIFEST_FILE, folder / MODEL_FILE
        data = self._stored(model_path, expected)
        if data is None and self._restoring:
            raise DeployRefused(f"the kept copy of {entry.model.name} {entry.model.version} is "
                                "missing or altered")  # fmt: skip
        if data is None:
            data = download(entry.url, entry.size, self._settings.download, self._stop)
        manifest = verify(data, expected, self._trusted)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            model_path.write_bytes(data)
            manifest_path.write_bytes(entry.manifest)
        except OSError as err:
            raise DeployRefused(f"cannot keep the model in {folder}: {err.strerror}") from err
        return self._load(manifest_path, model_path, ModelRef(manifest.name, manifest.version))

    def _stored(self, file: Path, expected: Expected) -> bytes | None:
        """A copy kept from an earlier download, if it is there and still verifies (a file
        altered on disk is downloaded again)."""
        try:
            data = file.read_bytes()
            verify(data, expected, self._trusted)
        except (OSError, DeployRefused):
            return None
        return data

    def _load(self, manifest: Path, file: Path, ref: ModelRef) -> LoadedModel:
        """Prepare the model with the configured backend and warm it up on a frame; any
        failure is DeployRefused and leaves nothing loaded."""
        settings = self._detector.model_copy(
            update={"model": ModelSettings(manifest=manifest, file=file)}
        )
        try:
            detector = create_detector(settings)
        except (ModelError, BackendUnavailable) as err:
            raise DeployRefused(f"model {ref.name} {ref.version} does not load: {err}") from err
        try:
            tensor, _ = Preprocessor(detector.spec)(np.zeros(_WARM_UP_FRAME, dtype=np.uint8))
            detector.detect(tensor)
        except Exception as err:
            # Whatever a broken model does on its first frame, it must not reach a camera.
            detector.close()
            raise DeployRefused(f"model {ref.name} {ref.version} fails on a frame: {err}") from err
        return LoadedModel(detector, ref, detector.spec.sha256)

    # Commands and reports.

    def _command(self, name: str, payload: bytes) -> None:
        try:
            command = command_pb2.Command.FromString(payload)
        except DecodeError as err:
            logger.warning("ignored an unreadable command on cmd/%s: %s", name, err)
            return
        earlier = self._commands.earlier(command.request_id)
        if earlier is not None:
            logger.info("command %s %s repeated: answering again", name, command.request_id)
            self._answer(earlier)
            return
        result = command_pb2.CommandResult(request_id=command.request_id, name=name)
        now = datetime.now(UTC)
        if command.name != name:
            result.status = command_pb2.COMMAND_STATUS_REJECTED
            result.message = f"the command names {command.name!r} but came on cmd/{name}"
        elif expired(command, now):
            result.status = command_pb2.COMMAND_STATUS_EXPIRED
            result.message = "received after its expiry; not run"
        elif name == REPORT_STATE:
            sent = self._report()
            result.status = (
                command_pb2.COMMAND_STATUS_SUCCEEDED if sent else command_pb2.COMMAND_STATUS_FAILED
            )
            result.message = "reported state published" if sent else "not connected"
        else:
            result.status = command_pb2.COMMAND_STATUS_REJECTED
            result.message = f"unknown command {name!r}"
        result.time.FromDatetime(now)
        self._commands.remember(result)
        self._answer(result)

    def _answer(self, result: command_pb2.CommandResult) -> None:
        if self._reporter is not None:
            self._reporter.publish_command_result(result)

    def reported_state(self) -> state_pb2.ReportedState:
        """What the device runs now, as reported (key left for the link to fill in)."""
        errors = (self._error, self._upgrades.problem())
        state = state_pb2.ReportedState(
            generation=self._processed,
            config_version=self._config_version,
            error="; ".join(error for error in errors if error),
            agent_image=self._upgrades.running_image,
        )
        state.time.FromDatetime(datetime.now(UTC))
        for camera_id, slot in self._slots.items():
            running = slot.current.ref
            camera = state.cameras.add(camera_id=camera_id)
            camera.model.name, camera.model.version = running.name, running.version
        return state

    def _report(self) -> bool:
        if self._reporter is None:
            return False
        return self._reporter.publish_reported(self.reported_state())
