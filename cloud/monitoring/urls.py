"""Mounted under /devices/<device_id>/ (cloud/urls.py), beside the fleet's /devices/."""

from django.urls import path

from cloud.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.device, name="device"),
    path("series.json", views.series, name="series"),
]
