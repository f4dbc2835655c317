from django.apps import AppConfig


class DetectionsConfig(AppConfig):
    """Tracks and the detections (crops) that edge devices upload."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.detections"
