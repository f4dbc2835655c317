"""A deployment per fault-injection test: the cloud's processes on the test's namespaces of the
real services, its own device and bridge accounts on the broker, and the device's agent.

The broker is the shared one unless the test parametrizes `broker` indirectly with "private"
(a Mosquitto of its own, `private_broker`, which it may kill and restart).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from weaviate import WeaviateClient

from cloud.fleet.broker import MosquittoAccounts
from tests.cloud.ingest.processes import cloud_env
from tests.footage.clips import clip_path
from tests.integration.faults.harness import (
    CLOUD_SETTINGS,
    BrokerAccess,
    CloudProcesses,
    Deployment,
    Enrolment,
    PrivateBroker,
    Stores,
    bridge_variables,
    provision,
)
from tests.services.contract import MqttBroker
from tests.services.namespaces import isolated_name


@pytest.fixture
def private_broker() -> Iterator[PrivateBroker]:
    """A Mosquitto of this test alone."""
    with PrivateBroker() as broker:
        yield broker


@pytest.fixture
def broker(
    request: pytest.FixtureRequest, mqtt_broker: MqttBroker, mqtt_accounts: MosquittoAccounts
) -> BrokerAccess:
    """The broker of the deployment: the shared one, or (param "private") `private_broker`."""
    if getattr(request, "param", "shared") == "private":
        private: PrivateBroker = request.getfixturevalue("private_broker")
        return private.access
    return BrokerAccess(mqtt_broker.host, mqtt_broker.port, mqtt_broker.topic_prefix, mqtt_accounts)


@pytest.fixture
def site(request: pytest.FixtureRequest, session_token: str) -> str:
    """A site of this test's own (retained messages of earlier runs stay on the broker)."""
    name = isolated_name(request.node.nodeid, prefix="site", separator="-", max_length=56)
    return f"{name}-{session_token}"


@pytest.fixture
def deployment(
    storage_env: dict[str, str],
    broker: BrokerAccess,
    site: str,
    tmp_path: Path,
    s3_client: Minio,
    s3_bucket: str,
    weaviate_client: WeaviateClient,
    weaviate_collection: str,
) -> Iterator[Deployment]:
    """The deployment; no process is started yet."""
    enrolment = Enrolment.make(broker, site)
    try:
        env = cloud_env({**storage_env, **CLOUD_SETTINGS, **bridge_variables(broker, enrolment)})
        deployment = Deployment(
            broker=broker,
            enrolment=enrolment,
            token=provision(env, enrolment),
            cloud=CloudProcesses(env, tmp_path),
            stores=Stores(
                env["SIGHTLINE_CLOUD_DATABASE_URL"],
                s3_client,
                s3_bucket,
                weaviate_client,
                weaviate_collection,
                enrolment.device_id,
            ),
            directory=tmp_path,
            clip=clip_path("vtest-20s.avi"),
        )
        try:
            yield deployment
        finally:
            deployment.close()
    finally:
        enrolment.remove(broker)
