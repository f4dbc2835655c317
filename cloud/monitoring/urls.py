"""Mounted under /devices/<device_id>/ (cloud/urls.py): the data of the device page's charts
(the page itself is the fleet's, `cloud.fleet.views.device`)."""

from django.urls import path

from cloud.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("series.json", views.series, name="series"),
]
