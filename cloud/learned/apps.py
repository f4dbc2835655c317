from django.apps import AppConfig


class LearnedConfig(AppConfig):
    """Learned labels: a classifier per label, trained on its marks, scoring every crop."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.learned"

    def ready(self) -> None:
        # Connects the receiver that retrains a label when its marks change.
        from cloud.learned import receivers  # noqa: F401
