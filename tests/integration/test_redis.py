"""Redis: keys under the per-test prefix."""

from __future__ import annotations

import pytest
import redis

pytestmark = pytest.mark.integration


def test_it_sets_and_gets_a_key(redis_url: str, redis_prefix: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.set(f"{redis_prefix}crop:1", b"\x00jpeg", ex=60)
        assert client.get(f"{redis_prefix}crop:1") == b"\x00jpeg"
        assert 0 < client.ttl(f"{redis_prefix}crop:1") <= 60
