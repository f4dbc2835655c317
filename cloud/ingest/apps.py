from django.apps import AppConfig


class IngestConfig(AppConfig):
    """What devices send: crops over gRPC, status and events over MQTT, and device credentials."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.ingest"
