"""The Celery task that builds a dataset export queued from the web app."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from cloud.datasets.models import DatasetExport
from cloud.datasets.services import TOO_LARGE_HINT, fail_export, run_export

logger = logging.getLogger(__name__)


@shared_task(name="cloud.datasets.tasks.build_export", ignore_result=True)
def build_export(export_id: str) -> None:
    """Build and store the export's zip. A task redelivered after its export finished (late
    acks after a worker crash) does nothing; one that finds it half-built builds it again."""
    export = DatasetExport.objects.select_related("created_by").filter(pk=export_id).first()
    if export is None or export.state in (DatasetExport.State.DONE, DatasetExport.State.FAILED):
        return
    # The task's boundary: whatever goes wrong, the page must stop saying "running".
    try:
        run_export(export)
    except SoftTimeLimitExceeded:
        fail_export(export_id, "the export took longer than a task may run" + TOO_LARGE_HINT)
    except Exception:
        logger.exception("dataset export %s failed", export_id)
        fail_export(export_id, "the export failed unexpectedly; the worker's log says why")
