from django.apps import AppConfig


class AttributesConfig(AppConfig):
    """Crop attributes: the colour analyser of the embed workers and the rows it stores."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.attributes"
