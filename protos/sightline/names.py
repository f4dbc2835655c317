"""The grammar of the names devices choose and the cloud files things under.

Device ids, site ids and camera ids become MQTT topic levels (`sightline.device.v1.topics`) and
object-store key segments (`crops/<device>/<camera>/...`), so both sides must accept exactly the
same spellings (docs/architecture.md, "Identity and idempotency"): letters, digits, `_`, `.` and
`-`, starting with a letter or digit (which rules out `.`, `..`, a leading `$` and every MQTT
wildcard), at most 64 characters.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import StringConstraints

NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
"""One name, unanchored: anchor it in the regex dialect at hand (pydantic: `^...$`, which is
whole-text there; Python's `re`: `fullmatch`, since its `$` also matches before a final newline)."""

NAME_RULE: Final = "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
"""The rule in words, for error messages."""

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
"""A device, site or camera id as a settings field type (pydantic)."""

_NAME: Final = re.compile(NAME_PATTERN)


def is_name(value: str) -> bool:
    """Whether `value` is a valid device, site or camera id."""
    return _NAME.fullmatch(value) is not None
