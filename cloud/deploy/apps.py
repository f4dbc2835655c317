from django.apps import AppConfig


class DeployConfig(AppConfig):
    """Model registry, desired and reported state of devices."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.deploy"
