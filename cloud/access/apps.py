from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Roles, site and camera group grants, API tokens."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.access"
