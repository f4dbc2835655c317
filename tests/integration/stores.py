"""What the cloud stored, read straight from a test's PostgreSQL database and S3 bucket."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from minio import Minio
from psycopg import sql
from psycopg.rows import dict_row

from tests.cloud.ingest.well_formed import Row


class PostgresRows:
    """The rows of a test's PostgreSQL database, as `StoreView.rows` reads them."""

    def __init__(self, database_url: str) -> None:
        self._connection = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)

    def rows(self, table: str) -> Sequence[Row]:
        """Every row of `table`."""
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
        return self._connection.execute(query).fetchall()

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()


class PostgresStores(PostgresRows):
    """A `StoreView` of a test's PostgreSQL database and S3 bucket."""

    def __init__(self, database_url: str, s3: Minio, bucket: str) -> None:
        super().__init__(database_url)
        self._s3 = s3
        self._bucket = bucket

    def object_keys(self) -> set[str]:
        """The keys under ``crops/``."""
        listed = self._s3.list_objects(self._bucket, prefix="crops/", recursive=True)
        return {item.object_name for item in listed if item.object_name is not None}

    def object(self, key: str) -> bytes:
        """The object's bytes."""
        response = self._s3.get_object(self._bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()
