"""A benchmark run's own corner of the real test services, removed afterwards.

A database, a bucket, a Weaviate collection and a Redis key prefix on the services that
`tests/services/manage.py up` started (their variables in the environment), so a benchmark
never touches a test's data and leaves nothing behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence

import psycopg
import weaviate
from minio import Minio
from psycopg import sql

from tests.cloud.ingest.processes import storage_variables
from tests.services import contract
from tests.services.contract import S3Server, WeaviateServer


class BenchStorage:
    """Made on construction, removed by `close`."""

    def __init__(self, environ: Mapping[str, str], purpose: str) -> None:
        self.name = f"bench_{purpose}_{secrets.token_hex(4)}"
        self._admin_url = contract.require(environ, contract.DATABASE_URL)
        with psycopg.connect(self._admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.database_url = self._admin_url.rsplit("/", 1)[0] + f"/{self.name}"
        self.s3 = S3Server.from_env(environ)
        self.bucket = self.name.replace("_", "-")
        self.objects = Minio(self.s3.endpoint, self.s3.access_key, self.s3.secret_key, secure=False)
        self.objects.make_bucket(self.bucket)
        self.weaviate = WeaviateServer.from_env(environ)
        self.collection = self.name.capitalize()
        self.redis_url = contract.require(environ, contract.REDIS_URL)

    def variables(self) -> dict[str, str]:
        """The cloud settings that point at this storage."""
        return storage_variables(
            database_url=self.database_url,
            s3=self.s3,
            bucket=self.bucket,
            weaviate=self.weaviate,
            collection=self.collection,
            redis_url=self.redis_url,
            redis_prefix=f"{self.name}:",
        )

    def count_rows(self, ids: Sequence[str]) -> int:
        """How many of `ids` have a Detection row (each id at most once: it is the key)."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM detections_detection WHERE id = ANY(%s)", (list(ids),)
            ).fetchone()
        return int(row[0]) if row else 0

    def count_objects(self) -> int:
        """Objects under crops/ in the bucket."""
        return sum(1 for _ in self.objects.list_objects(self.bucket, "crops/", recursive=True))

    def close(self) -> None:
        """Remove the database, the bucket and the collection."""
        for item in self.objects.list_objects(self.bucket, recursive=True):
            self.objects.remove_object(self.bucket, str(item.object_name))
        self.objects.remove_bucket(self.bucket)
        with psycopg.connect(self._admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
        client = weaviate.connect_to_custom(
            http_host=self.weaviate.host,
            http_port=self.weaviate.http_port,
            http_secure=False,
            grpc_host=self.weaviate.host,
            grpc_port=self.weaviate.grpc_port,
            grpc_secure=False,
            skip_init_checks=True,
        )
        with client:
            client.collections.delete(self.collection)
