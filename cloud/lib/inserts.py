"""`insert_new`: insert rows whose key may exist already, and learn how many were new.

Django's `bulk_create(ignore_conflicts=True)` does not say which rows it inserted, and on SQLite
it writes ``INSERT OR IGNORE``, which also skips rows that break a NOT NULL or CHECK constraint.
The ingest needs both right: a row that was not inserted is a repeat (never a silently dropped
bad row), and the count tells the caller whether every row was new (docs/architecture.md,
"Identity and idempotency").
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def insert_new(rows: Sequence[Model]) -> int:
    """Insert `rows` (instances of one model) in one statement; return how many were inserted.

    A row whose primary key or other unique value is taken, by a committed row or one inserted
    earlier in the same statement, is skipped (``ON CONFLICT DO NOTHING``, as PostgreSQL and
    SQLite write it); any other constraint still raises. An insert racing another transaction's
    uncommitted row of the same key waits for that transaction, then skips the row if it
    committed. Field defaults and ``auto_now_add`` apply as in `Model.save`.
    """
    if not rows:
        return 0
    meta = rows[0]._meta
    fields = meta.local_concrete_fields
    quote = connection.ops.quote_name
    values = "(" + ", ".join(["%s"] * len(fields)) + ")"
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join([values] * len(rows))} ON CONFLICT DO NOTHING"
    )
    params = [
        field.get_db_prep_save(field.pre_save(row, add=True), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        inserted: int = cursor.rowcount
    return inserted
