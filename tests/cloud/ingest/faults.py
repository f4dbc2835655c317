"""Service functions that fail on purpose, for the tests of how the ingest classifies errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def failing_first(error: Exception, real: Callable[..., Any]) -> Callable[..., Any]:
    """`real`, except that its first call raises `error`."""
    calls: list[int] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real(*args, **kwargs)

    return call
