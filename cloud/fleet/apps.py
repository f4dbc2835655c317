from django.apps import AppConfig


class FleetConfig(AppConfig):
    """Devices, their cameras, status and events."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.fleet"
