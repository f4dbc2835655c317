"""The Celery beat task that drives running rollouts (`celery -A cloud beat` queues it)."""

from __future__ import annotations

import logging

from celery import shared_task

from cloud.rollouts import services

logger = logging.getLogger(__name__)


@shared_task(name="cloud.rollouts.tasks.advance_rollouts", ignore_result=True)
def advance_rollouts() -> int:
    """Let the gate judge every running rollout once; return how many changed."""
    changed = 0
    for rollout_id in services.running_rollouts():
        # One rollout's failure (a device row gone, a store down) must not hold up the others.
        try:
            changed += services.tick(rollout_id) is not None
        except Exception:
            logger.exception("rollout %d: the gate could not judge it", rollout_id)
    return changed
