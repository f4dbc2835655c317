from django.apps import AppConfig


class FacesConfig(AppConfig):
    """Faces found in person crops (rows here, vectors in the `Face` vector collection)."""

    name = "cloud.faces"
