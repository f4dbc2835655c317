"""The variables `manage.py up` writes to `.services/env` and `tests/conftest.py` reads.

One module so the writer and the reader cannot drift apart: the names, and typed views of the
values for the tests. Stdlib only: `manage.py` imports it before any virtual environment exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DATABASE_URL = "SIGHTLINE_TEST_DATABASE_URL"
REDIS_URL = "SIGHTLINE_TEST_REDIS_URL"

MQTT_HOST = "SIGHTLINE_TEST_MQTT_HOST"
MQTT_PORT = "SIGHTLINE_TEST_MQTT_PORT"
# Root of every topic the broker's ACL knows: `<prefix>/v1/<site>/<device>/...`
# (`sightline.device.v1.topics`).
MQTT_TOPIC_PREFIX = "SIGHTLINE_TEST_MQTT_TOPIC_PREFIX"
# MQTT over TLS, and over TLS with a required client certificate; both trust MQTT_CA_FILE, whose
# key (MQTT_CA_KEY_FILE) lets a test issue client certificates.
MQTT_TLS_PORT = "SIGHTLINE_TEST_MQTT_TLS_PORT"
MQTT_MTLS_PORT = "SIGHTLINE_TEST_MQTT_MTLS_PORT"
MQTT_CA_FILE = "SIGHTLINE_TEST_MQTT_CA_FILE"
MQTT_CA_KEY_FILE = "SIGHTLINE_TEST_MQTT_CA_KEY_FILE"
MQTT_ADMIN_USER = "SIGHTLINE_TEST_MQTT_ADMIN_USER"
MQTT_ADMIN_PASSWORD = "SIGHTLINE_TEST_MQTT_ADMIN_PASSWORD"
# Two device accounts, so a test can show that one device cannot touch the other's topics.
MQTT_DEVICE_USER = "SIGHTLINE_TEST_MQTT_DEVICE_USER"
MQTT_DEVICE_PASSWORD = "SIGHTLINE_TEST_MQTT_DEVICE_PASSWORD"
MQTT_DEVICE2_USER = "SIGHTLINE_TEST_MQTT_DEVICE2_USER"
MQTT_DEVICE2_PASSWORD = "SIGHTLINE_TEST_MQTT_DEVICE2_PASSWORD"

S3_ENDPOINT = "SIGHTLINE_TEST_S3_ENDPOINT"
S3_ACCESS_KEY = "SIGHTLINE_TEST_S3_ACCESS_KEY"
S3_SECRET_KEY = "SIGHTLINE_TEST_S3_SECRET_KEY"

# No TEST_ infix: an external Weaviate given this way is also what the app itself would use.
WEAVIATE_URL = "SIGHTLINE_WEAVIATE_URL"
WEAVIATE_GRPC_PORT = "SIGHTLINE_WEAVIATE_GRPC_PORT"

# Set (to anything but "", "0" or "false") on CI: a missing service fails the run there.
CI = "CI"


class MissingVariable(LookupError):
    """A variable of the contract is not set; `name` says which."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def require(environ: Mapping[str, str], name: str) -> str:
    """The value of `name`, or MissingVariable when it is unset or empty."""
    value = environ.get(name, "")
    if not value:
        raise MissingVariable(name)
    return value


@dataclass(frozen=True)
class MqttAccount:
    """One broker login."""

    username: str
    password: str


@dataclass(frozen=True)
class MqttBroker:
    """The test broker: address, topic root and its accounts."""

    host: str
    port: int
    tls_port: int
    """TLS; the server certificate is signed by `ca_file`."""
    mtls_port: int
    """TLS with a client certificate signed by `ca_file` required."""
    ca_file: Path
    ca_key_file: Path
    topic_prefix: str
    admin: MqttAccount
    """Dynamic-security admin that may also publish and subscribe anywhere (it plays the cloud)."""
    device: MqttAccount
    device2: MqttAccount

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MqttBroker:
        """Read the MQTT variables; MissingVariable names the first one unset."""

        def account(user: str, password: str) -> MqttAccount:
            return MqttAccount(require(environ, user), require(environ, password))

        return cls(
            host=require(environ, MQTT_HOST),
            port=int(require(environ, MQTT_PORT)),
            tls_port=int(require(environ, MQTT_TLS_PORT)),
            mtls_port=int(require(environ, MQTT_MTLS_PORT)),
            ca_file=Path(require(environ, MQTT_CA_FILE)),
            ca_key_file=Path(require(environ, MQTT_CA_KEY_FILE)),
            topic_prefix=require(environ, MQTT_TOPIC_PREFIX),
            admin=account(MQTT_ADMIN_USER, MQTT_ADMIN_PASSWORD),
            device=account(MQTT_DEVICE_USER, MQTT_DEVICE_PASSWORD),
            device2=account(MQTT_DEVICE2_USER, MQTT_DEVICE2_PASSWORD),
        )


@dataclass(frozen=True)
class S3Server:
    """The test S3 endpoint (`host:port`, plain HTTP) and its credentials."""

    endpoint: str
    access_key: str
    secret_key: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> S3Server:
        """Read the S3 variables; MissingVariable names the first one unset."""
        return cls(
            endpoint=require(environ, S3_ENDPOINT),
            access_key=require(environ, S3_ACCESS_KEY),
            secret_key=require(environ, S3_SECRET_KEY),
        )


@dataclass(frozen=True)
class WeaviateServer:
    """A Weaviate server: REST base URL and gRPC port (same host, plain text)."""

    url: str
    grpc_port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WeaviateServer:
        """Read the Weaviate variables; MissingVariable names the first one unset."""
        return cls(
            url=require(environ, WEAVIATE_URL),
            grpc_port=int(require(environ, WEAVIATE_GRPC_PORT)),
        )

    @property
    def host(self) -> str:
        """Host name or address of the REST URL."""
        return urlsplit(self.url).hostname or ""

    @property
    def http_port(self) -> int:
        """Port of the REST URL (80 when it names none)."""
        return urlsplit(self.url).port or 80
