"""``POST /api/v1/enrol``: a device (or its installer) spends its one-time enrolment token on
its credentials (`cloud.fleet.enrolment`).

JSON in and out, for a device that has no session, no login and no CSRF cookie: the token is
the only credential, in the body (``{"token": "..."}``) or in ``Authorization: Bearer ...``.
The body may name the device id the device wants (``{"device_id": "..."}``) when the enrolment
names none. Every refusal is ``{"error": "..."}`` with a status that says what to do: 400 fix
the request, 401 wrong token, 410 token used or expired (ask for a new one), 409 the device id
is taken, 503 the broker is down (try again: the token is still good). Served over HTTPS by
the deployment's front proxy, like the rest of the web app (docs/architecture.md, "Security").
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from cloud.errors import InvalidInput
from cloud.fleet import enrolment
from cloud.fleet.broker import BrokerAccountError, accounts_from_settings
from cloud.ingest.auth import bearer_token
from cloud.ingest.errors import Unauthenticated

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise InvalidInput(f"the body is over {MAX_BODY_BYTES} bytes")
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidInput(f"the body is not JSON: {err}") from err
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise InvalidInput('send a JSON object of strings: {"token": "...", "device_id": "..."}')
    return body


def _token(request: HttpRequest, body: dict[str, Any]) -> str:
    header = request.headers.get("Authorization")
    if header is not None:
        try:
            from_header = bearer_token([("authorization", header)])
        except Unauthenticated as err:
            raise InvalidInput(str(err)) from err
        if body.get("token", from_header) != from_header:
            raise InvalidInput("the body and the Authorization header carry different tokens")
        return from_header
    token = body.get("token", "")
    if not token:
        raise InvalidInput('send the token as {"token": "..."} or "Authorization: Bearer ..."')
    return str(token)


@csrf_exempt
@login_not_required
@require_POST
def enrol(request: HttpRequest) -> JsonResponse:
    """Exchange an enrolment token for the device's credentials (201), or say why not."""
    try:
        body = _body(request)
        token = _token(request, body)
        accounts = accounts_from_settings()
        credentials = enrolment.exchange(token, accounts, device_id=body.get("device_id", ""))
    except InvalidInput as err:
        return _error(400, str(err))
    except BrokerAccountError as err:
        # The broker admin settings are missing: the deployment's fault, not the device's.
        logger.error("enrolment impossible: %s", err)
        return _error(503, "the cloud cannot make broker accounts now; try again later")
    except enrolment.EnrolmentRefused as err:
        if err.status >= 500:
            logger.error("enrolment failed: %s", err)
        else:
            logger.warning("enrolment refused from %s: %s", request.META.get("REMOTE_ADDR"), err)
        return _error(err.status, str(err))
    return JsonResponse(
        {
            "device_id": credentials.device_id,
            "site": credentials.site,
            "hardware_profile": credentials.hardware_profile,
            "ingest": {"token": credentials.ingest_token},
            "mqtt": {
                "username": credentials.mqtt_username,
                "client_id": credentials.mqtt_username,
                "password": credentials.mqtt_password,
            },
        },
        status=201,
    )
