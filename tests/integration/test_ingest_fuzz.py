"""The ingest fuzzers on PostgreSQL and S3, through `python -m cloud ingest_grpc` as deployed.

PostgreSQL is where hostile content matters most (it refuses NUL in text and JSON, text longer
than its column, integers beyond a bigint), so the examples of `tests.cloud.ingest.fuzz_cases`
run here too, fewer of them: hostile crops, events, track summaries and arbitrary bytes, each
followed by a valid item, with every row and object checked afterwards
(`tests.cloud.ingest.well_formed`). The unit fuzzers (tests/cloud/ingest/test_fuzz_uploads.py)
run many more examples on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minio import Minio

from tests.cloud.ingest.fuzz_cases import bytes_example, crop_example, record_example
from tests.cloud.ingest.hostile import crop_requests, raw_requests, record_requests
from tests.cloud.ingest.processes import cloud_env, provision_devices, run_cloud
from tests.cloud.ingest.uploads import Ingest
from tests.integration.stores import PostgresStores

pytestmark = [
    pytest.mark.integration,
    # A failing example holds a JPEG and maybe huge strings: hypothesis warns about its size.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

DEVICE = "gate-01"


@pytest.fixture
def env(storage_env: dict[str, str]) -> dict[str, str]:
    """The cloud's environment on this test's stores (migrated), with the device provisioned."""
    env = cloud_env(storage_env)
    provision_devices(env, DEVICE)
    return env


@pytest.fixture
def token(env: dict[str, str]) -> str:
    """The device's token, issued with the operator's command."""
    return run_cloud(env, "device_token", DEVICE).strip()


@pytest.fixture
def stores(env: dict[str, str], s3_client: Minio, s3_bucket: str) -> Iterator[PostgresStores]:
    opened = PostgresStores(env["SIGHTLINE_CLOUD_DATABASE_URL"], s3_client, s3_bucket)
    yield opened
    opened.close()


# Built once: a strategy made per example would be built again for every one.
CROPS, RECORDS, RAW = crop_requests(DEVICE), record_requests(DEVICE), raw_requests(DEVICE)
KINDS = ("crop", "record", "crop", "record", "bytes")
"""What an example sends: structured items twice as often as bytes, which mostly fail to decode
(the unit fuzzers cover those many times over)."""


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_hostile_uploads_are_refused_and_stall_nothing_on_postgres(
    edge: Ingest, token: str, stores: PostgresStores, kind: str, data: st.DataObject
) -> None:
    # One test for every kind of example, so that they share one server and one migrated
    # database: a migration takes seconds, an example a fraction of one.
    if kind == "crop":
        crop_example(edge, token, DEVICE, stores, data.draw(CROPS))
    elif kind == "record":
        record_example(edge, token, DEVICE, stores, data.draw(RECORDS))
    else:
        method, payload = data.draw(RAW)
        bytes_example(edge, token, DEVICE, stores, method, payload)
