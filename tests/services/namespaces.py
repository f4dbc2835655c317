"""Per-test resource names derived from the pytest node id (the weaviate-client test pattern).

A readable part (test module and test name) plus a hash of the full node id, so truncation to a
backend's length limit can never make two tests share a database, bucket or collection.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

DIGEST_LENGTH = 8


def isolated_name(node_id: str, *, prefix: str, separator: str, max_length: int) -> str:
    """A name for `node_id` made of `prefix`, lowercase letters, digits and `separator`.

    `prefix` must already be valid for the backend (for example it must start with a letter).
    The result is at most `max_length` characters and stable for a given node id.
    """
    file, _, test = node_id.partition("::")
    readable = f"{PurePosixPath(file).stem} {test}".lower()
    slug = re.sub(r"[^a-z0-9]+", separator, readable).strip(separator)
    digest = hashlib.sha256(node_id.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    room = max_length - len(prefix) - len(digest) - 2 * len(separator)
    if room < 1:
        raise ValueError(f"max_length {max_length} leaves no room for a readable part")
    body = slug[:room].rstrip(separator)
    return separator.join(part for part in (prefix, body, digest) if part)
