"""The view behind the local object store's presigned URLs.

The signature is the whole authorisation, as with an S3 presigned URL: whoever holds an
unexpired URL may read that one object, with or without a session. That is what lets an
``<img>`` on a search page load a crop, and it is why no login is required here. Scoping
happens where URLs are made: the search pages and the API sign a crop's URL only for a user
who may see its camera (`cloud.access.scope`).
"""

from __future__ import annotations

import io
import logging
import time

from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cloud import backends
from cloud.lib.objectstore import ObjectNotFound, PresignedUrlExpired, PresignedUrlInvalid
from cloud.lib.objectstore.local import LocalObjectStore

logger = logging.getLogger(__name__)

# Stored objects are crops and model files, never pages: even a mislabelled object must not
# run scripts or load anything in the site's origin.
_SANDBOX = "default-src 'none'; sandbox"


@login_not_required
@require_safe
def presigned_object(request: HttpRequest, key: str) -> HttpResponseBase:
    """Serve one object if the URL's ``exp`` and ``sig`` are valid: 410 once expired, 403 if
    tampered with or malformed, 404 if absent."""
    store = backends.object_store()
    if not isinstance(store, LocalObjectStore):
        raise Http404("objects are served by the object store itself")
    exp, sig = request.GET.get("exp", ""), request.GET.get("sig", "")
    try:
        store.verify_presigned(key, exp, sig)
    except PresignedUrlInvalid as err:
        logger.info("refused a presigned URL for %s: %s", key, err)
        expired = isinstance(err, PresignedUrlExpired)
        return render(
            request,
            "objects/refused.html",
            {"expired": expired},
            status=410 if expired else 403,
        )
    try:
        info = store.stat(key)
        data = store.get(key)
    except ObjectNotFound as err:
        raise Http404("no such object") from err
    response = FileResponse(io.BytesIO(data), content_type=info.content_type)
    # Cacheable until the URL expires; private because the URL is a credential.
    response["Cache-Control"] = f"private, max-age={max(0, int(exp) - int(time.time()))}"
    response["Content-Security-Policy"] = _SANDBOX
    return response
