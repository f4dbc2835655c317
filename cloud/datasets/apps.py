from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    """Detection datasets (COCO, YOLO) exported from user labels."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.datasets"
