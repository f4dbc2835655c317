"""A simulated fleet: many lightweight agents in one asyncio loop, speaking the real contract.

Each `SimulatedAgent` is what the edge agent is to the broker (`edge.transport.mqtt`): one
paho-mqtt client, MQTT 5, logged in with its own broker account (made by
`cloud.fleet.broker.MosquittoAccounts`, bound to its client id), an OFFLINE last will on its
retained `status` topic, an ONLINE birth on connect with the same session number, then a
`Metrics` heartbeat every `heartbeat_s` at QoS 1 with plausible per-camera figures. Topics come
from `sightline.device.v1.topics`, messages from the generated protobuf code: nothing here is
a second copy of the protocol.

The clients run on one asyncio loop through paho's external-loop hooks (the socket callbacks
of paho's `loop_asyncio` example): asyncio watches the sockets and calls `loop_read`,
`loop_write` and `loop_misc`; no thread per client. Heartbeats of the fleet are spread evenly
over the interval, as real devices started at different times are.

Behaviours: `steady`; `lagging` (the detector runs at 40% of its configured rate); `dropping`
(the outbox drops rows every heartbeat). `kill` ends an agent as a power cut would: the socket
is closed without a DISCONNECT, so the broker publishes its will.

Models: like the edge (`edge.deploy`), each agent subscribes to its retained `desired` topic
before its birth, applies a generation above the last one it applied and publishes its
`reported` state after each attempt and on every connect. It fetches nothing: a version in
`AgentSpec.refuses` is refused with an error (the old model keeps running), one in
`AgentSpec.slow_on` runs at a fifth of the configured rate, as a model that does not suit the
device's hardware would.

Every heartbeat the broker acknowledged (PUBACK) is recorded in `acked`, so a test can check
that the cloud stored each of them.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import logging
import random
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from sightline.common.v1 import model_pb2
from sightline.device.v1 import key_pb2, metrics_pb2, state_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream

logger = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0-sim"
MODEL = model_pb2.ModelRef(name="nanodet-g", version="1")
MODEL_SHA256 = "5" * 64
_MISC_S = 1.0
_BURST_S = 0.005


class Behaviour(enum.Enum):
    STEADY = "steady"
    LAGGING = "lagging"
    DROPPING = "dropping"


@dataclass(frozen=True)
class AgentSpec:
    """Who one simulated agent is: its id, site, broker password, cameras and behaviour."""

    device_id: str
    site: str
    password: str
    cameras: int = 2
    target_fps: float = 5.0
    behaviour: Behaviour = Behaviour.STEADY
    refuses: frozenset[str] = frozenset()
    """Model versions it refuses to apply (reported with an error)."""
    slow_on: frozenset[str] = frozenset()
    """Model versions that run at a fifth of the configured rate on it."""


@dataclass
class _Counters:
    """What one agent reported so far (its outbox and detector, as the heartbeat says)."""

    detections: int = 0
    dropped: int = 0
    errors: int = 0
    outbox_rows: int = 0


class SimulatedAgent:
    """One agent on the shared loop; see the module docstring."""

    def __init__(
        self, spec: AgentSpec, *, host: str, port: int, topic_prefix: str, keepalive_s: int = 60
    ) -> None:
        self.spec = spec
        self.topics = DeviceTopics(prefix=topic_prefix, site=spec.site, device=spec.device_id)
        self._host, self._port, self._keepalive = host, port, keepalive_s
        # As the real agent's outbox: seq above every one used before, from the clock.
        self._seq = time.time_ns() // 1000
        self.session = 1
        self.acked: set[int] = set()
        """Heartbeat seqs the broker acknowledged."""
        self._pending: dict[int, int] = {}
        """paho mid -> heartbeat seq, until its PUBACK."""
        self.connected = asyncio.Event()
        self.refused: ReasonCode | None = None
        self._counters = _Counters()
        self._random = random.Random(spec.device_id)
        # Each device's detector has its own latency (hardware, scene) that stays steady from
        # one heartbeat to the next, as the gate assumes when it compares a device with its own
        # baseline: drawn once, with a little jitter per heartbeat (`metrics`).
        self._latency_p50_ms = self._random.uniform(18.0, 35.0)
        self._latency_tail = self._random.uniform(1.2, 1.6)
        self._client = self._make_client()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._last_sample: float | None = None
        self.model = MODEL
        """The model its cameras run."""
        self.generation = 0
        """The last desired generation it processed."""

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _status(self, state: status_pb2.DeviceState) -> bytes:
        message = status_pb2.DeviceStatus(
            key=key_pb2.MessageKey(device_id=self.spec.device_id, seq=self._next_seq()),
            state=state,
            session_seq=self.session,
            agent_version=AGENT_VERSION,
            hardware_profile="x86-cpu",
            models=[
                status_pb2.CameraModel(camera_id=f"cam{n}", model=MODEL, sha256=MODEL_SHA256)
                for n in range(self.spec.cameras)
            ],
        )
        message.time.FromDatetime(datetime.now(UTC))
        return message.SerializeToString()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.spec.device_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        client.username_pw_set(self.spec.device_id, self.spec.password)
        client.will_set(
            self.topics.upstream(Upstream.STATUS),
            self._status(status_pb2.DEVICE_STATE_OFFLINE),
            qos=1,
            retain=True,
        )
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    # paho's external-loop hooks ---------------------------------------------------------------

    def _on_socket_open(self, client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._sock = sock
        self._loop.add_reader(sock, client.loop_read)

    def _on_socket_close(self, client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._sock = None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)

    def _on_register_write(self, client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self.refused = reason
            logger.warning("%s: broker refused the login: %s", self.spec.device_id, reason)
            return
        # As the edge: the downstream subscription goes before the birth, the report after it.
        client.subscribe(self.topics.desired, qos=1)
        client.publish(
            self.topics.upstream(Upstream.STATUS),
            self._status(status_pb2.DEVICE_STATE_ONLINE),
            qos=1,
            retain=True,
        )
        self.report()
        self.connected.set()

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic != self.topics.desired:
            return
        desired = state_pb2.DesiredState.FromString(bytes(message.payload))
        if desired.generation <= self.generation or not desired.cameras:
            return
        self.generation = desired.generation
        model = desired.cameras[0].model
        if model.version in self.spec.refuses:
            self.report(f"refused {model.name} {model.version}: does not load on this device")
            return
        self.model = model_pb2.ModelRef(name=model.name, version=model.version)
        self.report()

    def report(self, error: str = "") -> None:
        """Publish what it runs (`ReportedState`), and why it did not apply the last desired
        generation when `error`."""
        message = state_pb2.ReportedState(
            key=key_pb2.MessageKey(device_id=self.spec.device_id, seq=self._next_seq()),
            generation=self.generation,
            cameras=[
                status_pb2.CameraModel(camera_id=f"cam{n}", model=self.model)
                for n in range(self.spec.cameras)
            ],
            error=error,
        )
        message.time.FromDatetime(datetime.now(UTC))
        self._client.publish(
            self.topics.upstream(Upstream.REPORTED), message.SerializeToString(), qos=1
        )

    def _on_publish(
        self, _client: Any, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        seq = self._pending.pop(mid, None)
        if seq is not None and not reason.is_failure:
            self.acked.add(seq)

    # Life cycle --------------------------------------------------------------------------------

    def connect(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the connection (TCP connect and CONNECT sent; the CONNACK comes on the loop)."""
        self._loop = loop
        self._client.connect(self._host, self._port, keepalive=self._keepalive)

    def misc(self) -> None:
        """paho's periodic work (keepalive pings, retries); call about once a second."""
        self._client.loop_misc()

    def heartbeat(self) -> None:
        """Publish one heartbeat at QoS 1 (if connected)."""
        if not self.connected.is_set():
            return
        seq = self._next_seq()
        info = self._client.publish(
            self.topics.upstream(Upstream.METRICS), self.metrics(seq).SerializeToString(), qos=1
        )
        self._pending[info.mid] = seq

    def metrics(self, seq: int) -> metrics_pb2.Metrics:
        """The heartbeat of this agent now: plausible figures shaped by its behaviour."""
        now = time.monotonic()
        interval = 0.0 if self._last_sample is None else now - self._last_sample
        self._last_sample = now
        spec, rng, counters = self.spec, self._random, self._counters
        speed = 0.4 if spec.behaviour is Behaviour.LAGGING else 1.0
        if self.model.version in spec.slow_on:
            speed *= 0.2
        cameras = []
        for n in range(spec.cameras):
            p50 = self._latency_p50_ms * rng.uniform(0.95, 1.05) / speed
            # About three objects per frame run, within 10%: a steady scene, as the rollout
            # gate compares a device's detections per minute with its own baseline.
            detections = round(3 * spec.target_fps * speed * interval * rng.uniform(0.9, 1.1))
            counters.detections += detections
            cameras.append(
                metrics_pb2.CameraMetrics(
                    camera_id=f"cam{n}",
                    connected=True,
                    decode_fps=25.0,
                    infer_fps=spec.target_fps * speed * rng.uniform(0.97, 1.01),
                    target_fps=spec.target_fps,
                    detections_total=counters.detections,
                    detections=detections,
                    model=self.model,
                    model_sha256=MODEL_SHA256,
                    detector_latency_p50_ms=p50,
                    detector_latency_p95_ms=p50 * self._latency_tail * rng.uniform(0.97, 1.03),
                )
            )
        if spec.behaviour is Behaviour.DROPPING:
            counters.dropped += rng.randint(5, 20)
            counters.outbox_rows = 5000
        else:
            counters.outbox_rows = rng.randint(0, 8)
        message = metrics_pb2.Metrics(
            key=key_pb2.MessageKey(device_id=spec.device_id, seq=seq),
            session_seq=self.session,
            cameras=cameras,
            outbox_rows=counters.outbox_rows,
            outbox_bytes=counters.outbox_rows * 30_000,
            outbox_dropped_total=counters.dropped,
            lanes=[
                metrics_pb2.LaneMetrics(
                    kind="crop", rows=counters.outbox_rows, dropped_total=counters.dropped
                ),
                metrics_pb2.LaneMetrics(kind="record"),
            ],
            cpu_percent=rng.uniform(20, 70),
            disk_free_bytes=40 * 2**30,
            interval_s=interval,
            errors_total=counters.errors,
            temperature_celsius=rng.uniform(45.0, 70.0),
        )
        message.time.FromDatetime(datetime.now(UTC))
        return message

    def kill(self) -> None:
        """End the agent as a power cut would for the broker: the connection closes with no
        DISCONNECT, so the broker publishes the last will. (paho then sees the end of the
        stream and releases its sockets itself.)"""
        self.connected.clear()
        if self._sock is not None:
            self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """A clean shutdown: the OFFLINE status published by the agent, then DISCONNECT."""
        if not self.connected.is_set():
            return
        self.connected.clear()
        self._client.publish(
            self.topics.upstream(Upstream.STATUS),
            self._status(status_pb2.DEVICE_STATE_OFFLINE),
            qos=1,
            retain=True,
        )
        self._client.disconnect()


@dataclass
class Fleet:
    """Agents sharing one loop; `run` until `stop` is set."""

    agents: Sequence[SimulatedAgent]
    heartbeat_s: float
    connect_per_s: float = 500.0
    """Connections opened per second at start (a broker takes a burst of logins slowly)."""
    killed: set[str] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect every agent, then heartbeat each every `heartbeat_s` (spread over the
        interval) until `stop`; then stop every agent cleanly."""
        loop = asyncio.get_running_loop()
        misc = asyncio.create_task(self._misc(stop))
        try:
            for index, agent in enumerate(self.agents):
                agent.connect(loop)
                if index % 50 == 49:
                    await asyncio.sleep(50 / self.connect_per_s)
            await asyncio.wait_for(
                asyncio.gather(*(agent.connected.wait() for agent in self.agents)), 60
            )
            logger.info("%d simulated agents connected", len(self.agents))
            await self._heartbeats(stop)
        finally:
            for agent in self.agents:
                if agent.spec.device_id not in self.killed:
                    agent.stop()
            await asyncio.sleep(0.5)  # let the goodbyes go out
            misc.cancel()

    async def _misc(self, stop: asyncio.Event) -> None:
        while True:
            for agent in self.agents:
                if agent.spec.device_id not in self.killed:
                    agent.misc()
            await asyncio.sleep(_MISC_S)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        step = self.heartbeat_s / max(len(self.agents), 1)
        started = time.monotonic()
        beat = 0
        while True:
            for index, agent in enumerate(self.agents):
                delay = started + beat * self.heartbeat_s + index * step - time.monotonic()
                if delay > _BURST_S:  # several agents due within a burst go out together
                    await asyncio.sleep(delay)
                if stop.is_set():
                    return
                if agent.spec.device_id not in self.killed:
                    agent.heartbeat()
            beat += 1

    def kill(self, device_id: str) -> None:
        """Kill one agent (`SimulatedAgent.kill`); call it on the loop's thread."""
        self.killed.add(device_id)
        next(a for a in self.agents if a.spec.device_id == device_id).kill()

    def acked(self) -> set[tuple[str, int]]:
        """Every (device id, seq) of a heartbeat the broker acknowledged."""
        return {(agent.spec.device_id, seq) for agent in self.agents for seq in agent.acked}


def spec_of(fields: dict[str, Any]) -> AgentSpec:
    """An `AgentSpec` from its JSON form (enums by value, sets as lists)."""
    return AgentSpec(
        **{
            **fields,
            "behaviour": Behaviour(fields.get("behaviour", "steady")),
            "refuses": frozenset(fields.get("refuses", ())),
            "slow_on": frozenset(fields.get("slow_on", ())),
        }
    )


def main(argv: list[str] | None = None) -> int:
    """Run agents from a JSON file of specs until `--seconds` pass; print one JSON line a second
    ({"t", "connected", "acked"}) and a last one with the totals, for `tests/bench/bench_fleet`."""
    parser = argparse.ArgumentParser(prog="python -m tests.fleet.simulator")
    parser.add_argument("--specs", type=Path, required=True, help="JSON list of AgentSpec fields")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic-prefix", default="sightline")
    parser.add_argument("--heartbeat-s", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, required=True, help="heartbeating time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    specs = [spec_of(fields) for fields in json.loads(args.specs.read_text(encoding="utf-8"))]
    agents = [
        SimulatedAgent(spec, host=args.host, port=args.port, topic_prefix=args.topic_prefix)
        for spec in specs
    ]
    fleet = Fleet(agents, heartbeat_s=args.heartbeat_s)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(fleet.run(stop))
        started: float | None = None
        while not task.done():
            connected = sum(agent.connected.is_set() for agent in agents)
            if started is None and connected == len(agents):
                started = time.monotonic()
            acked = sum(len(agent.acked) for agent in agents)
            line = {"t": time.time(), "connected": connected, "acked": acked}
            print(json.dumps(line), flush=True)
            if started is not None and time.monotonic() - started >= args.seconds:
                stop.set()
            await asyncio.sleep(1.0)
        await task

    asyncio.run(run())
    acked = sum(len(agent.acked) for agent in agents)
    print(json.dumps({"done": True, "acked": acked}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
