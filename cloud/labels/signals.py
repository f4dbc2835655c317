"""`marks_changed`: sent once per committed batch of mark changes, with the label's id.

What follows a change of marks (refreshing the similarity suggestions, retraining the learned
classifier) lives in other modules and apps; they connect receivers here, which queue their own
Celery tasks, so the marking code knows none of them.
"""

from django.dispatch import Signal

marks_changed = Signal()
"""Sent after the commit of a batch of mark changes; keyword argument ``label_id``."""
