"""Checks for values that arrive from edge devices.

Device and camera ids become object-store key segments (``crops/<device>/<camera>/...``) and MQTT
topic levels, so they are restricted to characters that are safe in both: no ``/``, no MQTT
wildcards, and no leading dot (which rules out ``.`` and ``..``). Edge-made ids (detection and
track ids) are idempotency keys, so exactly one spelling is accepted per id: a canonical
lowercase UUID (what ``str(uuid7())`` gives), which is what the wire contract allows
(`validate_uuid`); stored detection ids may also be uppercase ULIDs (`validate_detection_id`).

The regex validators serve model fields (admin forms) and, through `require`, the wire checks
at the ingest boundary (`cloud.ingest.crops`, `cloud.ingest.device_messages`). `require`,
`require_text` and `require_aware` raise the domain error `InvalidInput` instead of Django's
`ValidationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

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


def require_text(value: str, model: type[models.Model], field: str) -> None:
    """Reject empty strings and strings longer than the model's column `field`."""
    column = model._meta.get_field(field)
    if not isinstance(column, models.CharField) or column.max_length is None:
        raise TypeError(f"{model.__name__}.{field} is not a bounded CharField")
    if not value or len(value) > column.max_length:
        raise InvalidInput(f"{field}: must be 1-{column.max_length} characters")


def require_aware(value: datetime, field: str) -> None:
    """Reject naive datetimes: device clocks are compared across time zones."""
    if timezone.is_naive(value):
        raise InvalidInput(f"{field}: must carry a time zone")
