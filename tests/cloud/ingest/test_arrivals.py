"""`arrived_groups`: a stream's items in groups of those that arrived, never waiting for more."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cloud.ingest.arrivals import arrived_groups


def test_items_sent_together_come_in_groups_up_to_the_limit() -> None:
    groups = list(arrived_groups(iter(range(10)), limit=4, linger_s=0.5))
    assert [item for group in groups for item in group] == list(range(10))
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_it_never_waits_for_an_item_the_client_has_not_sent() -> None:
    # A client may wait for each ack before it sends the next item.
    acked = threading.Event()

    def one_by_one() -> Iterator[int]:
        yield 1
        assert acked.wait(5), "the first item was never handed over alone"
        yield 2

    groups = arrived_groups(one_by_one(), limit=16, linger_s=0.01)
    assert next(groups) == [1]
    acked.set()
    assert next(groups) == [2]
    assert list(groups) == []


def test_an_error_of_the_stream_comes_after_the_items_before_it() -> None:
    def broken() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionResetError("cancelled")

    seen: list[int] = []
    with pytest.raises(ConnectionResetError):
        for group in arrived_groups(broken(), limit=16, linger_s=0.5):
            seen.extend(group)
    assert seen == [1, 2]


def test_the_reader_stops_when_the_handler_does() -> None:
    # A handler that stops early (a forged item) must not leave the reader waiting on a full
    # queue forever.
    def endless() -> Iterator[int]:
        n = 0
        while True:
            n += 1
            yield n

    before = set(threading.enumerate())
    groups = arrived_groups(endless(), limit=2, linger_s=0)
    assert next(groups)
    (reader,) = set(threading.enumerate()) - before
    groups.close()
    reader.join(5)
    assert not reader.is_alive()
