"""Stand-ins for `gi.repository.Gst` and `GLib` with the calls `DeepStreamPipeline` makes
(element factory, properties, request and static pads, links, pad probes, bus messages, a main
loop), so that its GStreamer code runs here. The main loop runs `Stream.play`, which a test sets
to push batches through the probes as the real elements would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any


@dataclass
class Pad:
    name: str
    probes: list[tuple[Callable[..., Any], Any]] = field(default_factory=list)
    linked: Pad | None = None

    def add_probe(self, kind: str, callback: Callable[..., Any], data: Any) -> int:
        assert kind == "BUFFER"
        self.probes.append((callback, data))
        return len(self.probes)

    def link(self, other: Pad) -> str:
        self.linked = other
        return "OK"


@dataclass
class Element:
    factory: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    pads: dict[str, Pad] = field(default_factory=dict)
    signals: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = field(default_factory=dict)
    downstream: Element | None = None

    def set_property(self, key: str, value: Any) -> None:
        self.properties[key] = value

    def get_name(self) -> str:
        return self.name

    def link(self, other: Element) -> bool:
        self.downstream = other
        return True

    def get_static_pad(self, name: str) -> Pad:
        return self.pads.setdefault(name, Pad(name))

    def request_pad_simple(self, name: str) -> Pad:
        return self.pads.setdefault(name, Pad(name))

    def connect(self, signal: str, callback: Callable[..., Any], *args: Any) -> None:
        self.signals[signal] = (callback, args)


@dataclass
class Bus:
    watching: bool = False
    handler: tuple[Callable[..., Any], tuple[Any, ...]] | None = None

    def add_signal_watch(self) -> None:
        self.watching = True

    def connect(self, signal: str, callback: Callable[..., Any], *args: Any) -> None:
        assert signal == "message"
        self.handler = (callback, args)

    def post(self, message: SimpleNamespace) -> None:
        assert self.handler is not None
        callback, args = self.handler
        callback(self, message, *args)


@dataclass
class Pipeline:
    elements: dict[str, Element] = field(default_factory=dict)
    bus: Bus = field(default_factory=Bus)
    states: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def add(self, element: Element) -> None:
        self.elements[element.name] = element

    def get_bus(self) -> Bus:
        return self.bus

    def set_state(self, state: str) -> None:
        self.states.append(state)

    def send_event(self, event: str) -> None:
        self.events.append(event)
        if event == "eos":
            self.bus.post(SimpleNamespace(type="EOS"))


@dataclass
class Stream:
    """What the test plays: the pipeline built, and `play(pipeline)` run by the main loop."""

    pipeline: Pipeline | None = None
    play: Callable[[Pipeline], None] = lambda pipeline: None
    timeouts: list[Callable[[], bool]] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    """Factories that `ElementFactory.make` cannot make (a plugin not installed)."""


STREAM = Stream()


def _make(factory: str, name: str) -> Element | None:
    return None if factory in STREAM.missing else Element(factory, name)


def _new_pipeline(name: str) -> Pipeline:
    STREAM.pipeline = Pipeline()
    return STREAM.pipeline


class MainLoop:
    def __init__(self) -> None:
        self.running = False

    def run(self) -> None:
        self.running = True
        assert STREAM.pipeline is not None
        STREAM.play(STREAM.pipeline)

    def quit(self) -> None:
        self.running = False


def error_message(text: str) -> SimpleNamespace:
    """A Gst ERROR bus message."""
    return SimpleNamespace(
        type="ERROR", parse_error=lambda: (SimpleNamespace(message=text), "debug detail")
    )


def gi_modules() -> dict[str, ModuleType]:
    """`gi` and `gi.repository` stand-ins, keyed by module name."""
    gst = SimpleNamespace(
        init=lambda argv: None,
        Pipeline=SimpleNamespace(new=_new_pipeline),
        ElementFactory=SimpleNamespace(make=_make),
        Caps=SimpleNamespace(from_string=lambda text: ("caps", text)),
        PadProbeType=SimpleNamespace(BUFFER="BUFFER"),
        PadProbeReturn=SimpleNamespace(OK="OK"),
        State=SimpleNamespace(PLAYING="PLAYING", NULL="NULL"),
        MessageType=SimpleNamespace(EOS="EOS", ERROR="ERROR", WARNING="WARNING"),
        Event=SimpleNamespace(new_eos=lambda: "eos"),
    )
    glib = SimpleNamespace(
        MainLoop=MainLoop,
        timeout_add=lambda interval, callback: STREAM.timeouts.append(callback),
    )
    gi = ModuleType("gi")
    gi.require_version = lambda name, version: None  # type: ignore[attr-defined]
    repository = ModuleType("gi.repository")
    repository.Gst = gst  # type: ignore[attr-defined]
    repository.GLib = glib  # type: ignore[attr-defined]
    gi.repository = repository  # type: ignore[attr-defined]
    return {"gi": gi, "gi.repository": repository}
