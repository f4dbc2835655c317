from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    """Staged model rollouts, their devices and their audit log."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.rollouts"
