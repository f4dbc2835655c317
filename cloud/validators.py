"""Checks for values that arrive from edge devices.

Device and camera ids become object-store key segments (``crops/<device>/<camera>/...``) and MQTT
topic levels, so they are restricted to characters that are safe in both: no ``/``, no MQTT
wildcards, and no leading dot (which rules out ``.`` and ``..``). Edge-made ids (detection and
track ids) are idempotency keys, so exactly one spelling is accepted per id: a canonical
lowercase UUID (what ``str(uuid7())`` gives), which is what the wire contract allows
(`validate_uuid`); stored detection ids may also be uppercase ULIDs (`validate_detection_id`).
Event names and attribute keys follow event.proto (`validate_event_name`,
`validate_attribute_key`).

The regex validators serve model fields (admin forms) and, through `require`, the wire checks
at the ingest boundary (`cloud.ingest.crops`, `cloud.ingest.records`,
`cloud.ingest.device_messages`). The other `require_*` functions hold a value to what the stores
can keep (PostgreSQL refuses NUL characters in text and JSON, text longer than its column,
integers beyond 64 bits signed; JSON has no NaN), so that a device's message can never make a
store fail on its content; the services call them. All raise the domain error `InvalidInput`
instead of Django's `ValidationError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from cloud.errors import InvalidInput
from sightline.names import NAME_PATTERN as _NAME

validate_edge_name = RegexValidator(
    rf"\A{_NAME}\Z",
    "Use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.",
)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

validate_uuid = RegexValidator(
    rf"\A{_UUID}\Z", "Use a UUID in canonical lowercase 8-4-4-4-12 form."
)
validate_detection_id = RegexValidator(
    rf"\A({_UUID}|[0-9A-HJKMNP-TV-Z]{{26}})\Z",
    "Use a lowercase canonical UUID or an uppercase ULID.",
)
# event.proto: a dotted, stable name ("camera.disconnected"), which fits DeviceEvent.kind.
validate_event_name = RegexValidator(
    r"\A(?=.{1,64}\Z)[a-z0-9_]+(\.[a-z0-9_]+)*\Z",
    "Use 1-64 characters: dotted lower_snake words, such as 'camera.disconnected'.",
)
# event.proto: attribute keys are lower_snake.
validate_attribute_key = RegexValidator(
    r"\A[a-z][a-z0-9_]{0,63}\Z", "Use 1-64 characters of lower_snake, starting with a letter."
)


def require(
    validator: Callable[[str], None],
    value: str,
    field: str,
    error: type[InvalidInput] = InvalidInput,
) -> None:
    """Run a Django validator on `value`, raising `error` (an `InvalidInput`) naming `field`."""
    try:
        validator(value)
    except ValidationError as err:
        raise error(f"{field}: {' '.join(err.messages)}") from err


def require_text(value: str, model: type[models.Model], field: str, *, blank: bool = False) -> None:
    """Reject strings that do not fit the model's column `field`, and empty ones unless `blank`."""
    column = model._meta.get_field(field)
    if not isinstance(column, models.CharField) or column.max_length is None:
        raise TypeError(f"{model.__name__}.{field} is not a bounded CharField")
    if not (blank or value) or len(value) > column.max_length:
        least = 0 if blank else 1
        raise InvalidInput(f"{field}: must be {least}-{column.max_length} characters")
    _require_no_nul(value, field)


def require_free_text(value: str, field: str, max_length: int) -> None:
    """Reject text (empty allowed) longer than `max_length` or holding NUL characters."""
    if len(value) > max_length:
        raise InvalidInput(f"{field}: must be at most {max_length} characters")
    _require_no_nul(value, field)


def _require_no_nul(value: str, field: str) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")


EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""Times a device may report lie in [EARLIEST, LATEST): no frame predates the Unix epoch (a
device clock that was never set reads 1970), and 2200 outlives every device. The range keeps
far inside what Python, Django and PostgreSQL hold in any time zone, where year 1 or 9999 would
overflow when shown in a zone east or west of UTC."""


def require_time(value: datetime, field: str) -> None:
    """Reject naive datetimes and times outside [EARLIEST, LATEST).

    Naive ones because device clocks are compared across time zones.
    """
    if timezone.is_naive(value):
        raise InvalidInput(f"{field}: must carry a time zone")
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(f"{field}: must lie in [{EARLIEST:%Y}, {LATEST:%Y})")


MAX_BIGINT: Final = 2**63 - 1
"""The largest value of a PostgreSQL bigint (Django's BigIntegerField): the wire's uint64
counters and sequence numbers must stay below it to be stored."""


def require_bigint(value: int, field: str, minimum: int = 0) -> None:
    """Reject integers outside [minimum, MAX_BIGINT]."""
    if not minimum <= value <= MAX_BIGINT:
        raise InvalidInput(f"{field}: must lie in [{minimum}, 2**63 - 1]")


def require_finite(value: float, field: str) -> None:
    """Reject NaN and infinities (JSON cannot hold them, comparisons with NaN are all false)."""
    if not math.isfinite(value):
        raise InvalidInput(f"{field}: must be a finite number")
