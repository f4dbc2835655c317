"""The Celery app: ``celery -A cloud worker -Q embed`` (or ``-Q default``).

Configuration comes from the ``CELERY_*`` names in `cloud.settings` (queues, routes, time limits,
late acks); tasks live in each app's ``tasks.py`` and are found by autodiscovery.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cloud.settings")

app = Celery("cloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
