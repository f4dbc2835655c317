from django.apps import AppConfig


class CloudConfig(AppConfig):
    """The project itself as an app: base templates, static files and system checks."""

    name = "cloud"
    verbose_name = "Sightline cloud"

    def ready(self) -> None:
        # Registers the system checks.
        from cloud import checks  # noqa: F401

        # Creates the Celery app and makes it current, so that `shared_task`s sent from web and
        # ingest processes use the configured broker instead of Celery's default one.
        from cloud.celery import app  # noqa: F401
