"""`DecodeAhead`: a camera's decoding on a thread of its own, a few frames ahead of inference.

Decoding (FFmpeg, in OpenCV) and the detector then overlap instead of taking turns on the
camera's thread: the source runs on a reader thread and hands copies of its frames over a small
bounded queue (each frame is copied because sources decode into one reused buffer).

When the consumer falls behind, the queue fills and what happens depends on the source:
- a live source (stream, USB camera) drops the OLDEST queued frame and counts it (`on_drop`): a
  camera does not wait, and its freshest frame is the one worth detecting on;
- a file never drops: the reader waits for room, so every sampled frame is processed and a
  resume position (`edge.journal`) never skips a frame that was not processed.

Ending is unchanged for the consumer: frames decoded before the end or a failure come first, then
the iteration ends, or the source's exception (`SourceError`, or a bug) is raised on the
consumer's thread. `stop` ends the iteration within `_POLL_S` (queued frames are not processed:
a stop means stop); closing the iterator early (max frames reached) stops the reader too and
waits for it, so the capture is released when `close` returns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from edge.sources.base import Frame, Frames, VideoSource

# How often a waiting consumer looks at the stop event, which cannot wake a condition itself.
_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class _End:
    """The reader is done: the source ended (`error` None) or raised `error`."""

    error: BaseException | None


class _Handover:
    """The bounded queue between one reader thread and one consumer."""

    def __init__(self, depth: int, live: bool, on_drop: Callable[[], None]) -> None:
        self._items: deque[Frame | _End] = deque()
        self._depth = depth
        self._live = live
        self._on_drop = on_drop
        self._changed = threading.Condition()
        self.halt = threading.Event()
        """Set by the consumer when it stops taking frames; ends the source."""

    def put(self, frame: Frame) -> None:
        """Queue `frame`, dropping the oldest (live) or waiting for room (file, until halt)."""
        dropped = False
        with self._changed:
            if self._live:
                if len(self._items) >= self._depth:
                    self._items.popleft()
                    dropped = True
            else:
                while len(self._items) >= self._depth and not self.halt.is_set():
                    self._changed.wait(_POLL_S)
            self._items.append(frame)
            self._changed.notify_all()
        if dropped:
            self._on_drop()

    def end(self, error: BaseException | None) -> None:
        """The last item: never dropped and never waiting, whatever is queued."""
        with self._changed:
            self._items.append(_End(error))
            self._changed.notify_all()

    def take(self, stop: threading.Event) -> Frame | _End | None:
        """The oldest item, waiting for one; None once `stop` is set."""
        with self._changed:
            while not self._items:
                if stop.is_set():
                    return None
                self._changed.wait(_POLL_S)
            if stop.is_set():
                return None
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def close(self) -> None:
        """Stop the reader: wake it if it waits for room, and end the source's iteration."""
        with self._changed:
            self.halt.set()
            self._items.clear()
            self._changed.notify_all()


class DecodeAhead:
    """A `VideoSource` that runs another one on a reader thread; see the module docstring."""

    def __init__(
        self,
        source: VideoSource,
        *,
        camera_id: str,
        live: bool,
        depth: int = 2,
        on_drop: Callable[[], None] = lambda: None,
    ) -> None:
        """`live`: drop the oldest frame when `depth` frames wait (else wait for room);
        `on_drop` is called on the reader thread for each frame dropped."""
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._source = source
        self._camera_id = camera_id
        # Each `frames` call builds its own queue from these: nothing carries over between runs.
        self._queue = (depth, live, on_drop)

    @property
    def started_at(self) -> datetime:
        """The wrapped source's."""
        return self._source.started_at

    def frames(self, stop: threading.Event) -> Frames:
        """Yield the source's frames (copies) until it ends, fails (raised here) or `stop`."""
        handover = _Handover(*self._queue)
        reader = threading.Thread(
            target=self._read,
            args=(handover,),
            name=f"decode-{self._camera_id}",
            daemon=True,
        )
        reader.start()
        try:
            while True:
                item = handover.take(stop)
                if item is None:
                    return
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            handover.close()
            # Waited for, so the capture is released (and its error, if any, dropped) before
            # the camera reports that it ended.
            reader.join()

    def _read(self, handover: _Handover) -> None:
        try:
            with closing(self._source.frames(handover.halt)) as frames:
                for frame in frames:
                    handover.put(Frame(frame.image.copy(), frame.index, frame.timestamp))
                    if handover.halt.is_set():
                        break
        except BaseException as err:
            # Thread boundary: handed to the consumer, which raises it on the camera's thread.
            handover.end(err)
        else:
            handover.end(None)
