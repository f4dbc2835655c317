from django.apps import AppConfig


class LabelsConfig(AppConfig):
    """User labels: positive and negative marks on crops, their history, and suggestions."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.labels"
