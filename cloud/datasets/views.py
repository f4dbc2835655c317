"""The dataset export pages: the form and the user's exports, one export's progress, and its
download.

For labelers and above. An export's zip holds crops of the cameras its creator saw, so its
pages and its file are its creator's alone: anyone else gets the 404 of an export that does
not exist. The zip is built by a Celery task (`cloud.datasets.tasks`); the export's page
reloads itself every two seconds until the task is done, then offers the download, a
presigned URL of the object store.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe
from kombu.exceptions import OperationalError as BrokerError

from cloud import backends
from cloud.access.models import Role
from cloud.access.roles import require_role, user_pk
from cloud.datasets.config import export_settings
from cloud.datasets.forms import ExportForm
from cloud.datasets.models import DatasetExport
from cloud.datasets.services import fail_export
from cloud.datasets.tasks import build_export
from cloud.lib.objectstore import ObjectStoreUnavailable

logger = logging.getLogger(__name__)

RECENT = 20
"""Exports listed on the form's page, newest first."""


@require_http_methods(["GET", "HEAD", "POST"])
@require_role(Role.LABELER)
def exports(request: HttpRequest) -> HttpResponse:
    """The export form, and the user's recent exports; a valid form queues an export and
    leads to its page."""
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        export = DatasetExport.objects.create(
            created_by_id=user_pk(request.user),
            format=form.cleaned_data["format"],
            options=form.options().model_dump(mode="json"),
        )
        try:
            build_export.delay(str(export.pk))
        except BrokerError:
            logger.exception("dataset export %s: could not queue its task", export.pk)
            fail_export(export.pk, "the task queue could not be reached; try again later")
        return redirect("datasets:export", export_id=export.pk)
    recent = DatasetExport.objects.filter(created_by_id=user_pk(request.user))[:RECENT]
    return render(
        request,
        "datasets/exports.html",
        {"form": form, "exports": recent},
        status=400 if form.errors else 200,
    )


def _own_export(request: HttpRequest, export_id: uuid.UUID) -> DatasetExport:
    export = DatasetExport.objects.filter(pk=export_id, created_by_id=user_pk(request.user)).first()
    if export is None:
        raise Http404("no such export")
    return export


@require_safe
@require_role(Role.LABELER)
def export(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    """One export: what was asked, how far the task got, and the download when it is done."""
    row = _own_export(request, export_id)
    return render(
        request,
        "datasets/export.html",
        {
            "export": row,
            "labels": row.options.get("labels", []),
            "working": row.state in (DatasetExport.State.QUEUED, DatasetExport.State.RUNNING),
        },
    )


@require_safe
@require_role(Role.LABELER)
def download(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    """A redirect to a presigned URL of the export's zip."""
    row = _own_export(request, export_id)
    if row.state != DatasetExport.State.DONE:
        raise Http404("this export has no file yet")
    lifetime = timedelta(seconds=export_settings().url_lifetime_s)
    try:
        url = backends.object_store().presigned_get_url(row.object_key, lifetime)
    except ObjectStoreUnavailable as err:
        logger.warning("dataset export %s: object store unavailable: %s", row.pk, err)
        return render(request, "search/unavailable.html", {"store": "object store"}, status=503)
    return redirect(url)
