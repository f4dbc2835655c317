from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Device health over time: heartbeat samples, their roll-ups, alerts."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.monitoring"
