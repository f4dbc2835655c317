from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Search pages over detections (views and templates only; queries live in detections)."""

    name = "cloud.search"
