"""Celery tasks of the labels (on the `embed` queue, routed by `CELERY_TASK_ROUTES`), and the
receiver that queues a label's suggestions refresh when its marks change."""

from __future__ import annotations

import logging
from typing import Any, Final

from django.dispatch import receiver
from kombu.exceptions import OperationalError as BrokerError

from cloud.embeddings.tasks import retried_when_transient
from cloud.labels import suggestions
from cloud.labels.signals import marks_changed

logger = logging.getLogger(__name__)

REFRESH_DELAY_S: Final = 2.0
"""How long a refresh waits after a batch of marks: a user marking crop after crop sends a
batch per click, and only the last of a quick run of them refreshes (see `queue_refresh`)."""


@retried_when_transient
def refresh_label_suggestions(label_id: int, after_event: int | None = None) -> int:
    """Refresh the label's similarity suggestions (`suggestions.refresh_suggestions`), unless
    a batch of marks newer than `after_event` exists: that batch queued its own refresh, which
    will read its marks too. Returns how many crops are suggested (0 when skipped)."""
    if suggestions.latest_mark_event(label_id) != after_event:
        logger.debug("label %s: a newer batch of marks refreshes instead", label_id)
        return 0
    return suggestions.refresh_suggestions(label_id).suggested


@receiver(marks_changed, dispatch_uid="cloud.labels.tasks.queue_refresh")
def queue_refresh(sender: object, *, label_id: int, **_kwargs: Any) -> None:
    """After a committed batch of marks: refresh the label's suggestions `REFRESH_DELAY_S`
    later, carrying the batch's latest event, so that a burst of batches refreshes once.

    The marks are committed already, so a broker outage must not fail the user's action: it
    is logged, and the label's next batch of marks queues a refresh that covers this one.
    """
    try:
        refresh_label_suggestions.apply_async(
            (label_id, suggestions.latest_mark_event(label_id)), countdown=REFRESH_DELAY_S
        )
    except BrokerError:
        logger.exception(
            "could not queue the suggestions refresh of label %s; its next marks will", label_id
        )
