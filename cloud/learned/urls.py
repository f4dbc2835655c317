"""Mounted under /labels/<label_id>/classifier/ (cloud/urls.py)."""

from django.urls import path

from cloud.learned import views

app_name = "learned"
urlpatterns = [
    path("", views.classifier, name="classifier"),
    path("progress.json", views.progress, name="progress"),
    path("train/", views.train, name="train"),
]
