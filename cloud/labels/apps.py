from django.apps import AppConfig


class LabelsConfig(AppConfig):
    """User labels: positive and negative marks on crops, their history, and suggestions."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.labels"

    def ready(self) -> None:
        # Connects the receiver that queues a label's suggestions refresh when its marks change.
        from cloud.labels import tasks  # noqa: F401
