"""``python -m cloud ingest_grpc``: run the gRPC ingest server (crops, records) until SIGTERM."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from cloud import backends
from cloud.ingest.server import IngestServerSettings, serve
from cloud.ingest.shutdown import stop_event_on_signals


class Command(BaseCommand):
    help = "Serve the gRPC IngestService (crops and records from devices) and its health service."

    def handle(self, *args: Any, **options: Any) -> None:
        server_settings = IngestServerSettings.model_validate(settings.INGEST_GRPC)
        stop = stop_event_on_signals()
        # Built before listening, so a wrong store configuration fails the start, not uploads.
        serve(server_settings, backends.object_store(), stop)
