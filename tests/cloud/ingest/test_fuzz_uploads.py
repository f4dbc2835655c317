"""Property-based fuzzing of every gRPC message the cloud accepts, through a real ingest server.

UploadCrops and UploadRecords on the test database (SQLite) and a local object store: hostile
crops, events and track summaries (`tests.cloud.ingest.hostile`) and arbitrary bytes, each
followed by a valid item; the properties are `tests.cloud.ingest.fuzz_cases`'.
`tests/integration/test_ingest_fuzz.py` runs fewer examples on PostgreSQL and S3.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.fuzz_cases import bytes_example, crop_example, record_example
from tests.cloud.ingest.hostile import crop_requests, raw_requests, record_requests
from tests.cloud.ingest.uploads import Ingest
from tests.cloud.ingest.well_formed import OrmStores

# A failing example holds a JPEG and maybe huge strings: hypothesis warns about its size.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

DEVICE = "gate-01"
# The examples of one test share its server and its database (fuzz_cases checks each example
# against a snapshot taken before it).
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(request=crop_requests(DEVICE))
def test_any_crop_is_stored_or_refused_and_the_next_one_is_stored(
    ingest: Ingest, token: str, objects: ObjectStore, request: ingest_pb2.UploadCropsRequest
) -> None:
    crop_example(ingest, token, DEVICE, OrmStores(objects), request)


@FUZZ
@given(request=record_requests(DEVICE))
def test_any_record_is_stored_or_refused_and_the_next_one_is_stored(
    ingest: Ingest, token: str, objects: ObjectStore, request: ingest_pb2.UploadRecordsRequest
) -> None:
    record_example(ingest, token, DEVICE, OrmStores(objects), request)


@FUZZ
@given(sent=raw_requests(DEVICE))
def test_any_bytes_on_a_stream_are_answered_and_the_next_stream_is_served(
    ingest: Ingest, token: str, objects: ObjectStore, sent: tuple[str, bytes]
) -> None:
    method, payload = sent
    bytes_example(ingest, token, DEVICE, OrmStores(objects), method, payload)
