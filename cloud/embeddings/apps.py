from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    """Crop embeddings: the embedder, the `embed` queue's tasks and re-embedding commands."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "cloud.embeddings"
