from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts: a label or a saved search that notifies (webhook, MQTT) when a new crop matches."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.alerts"
