from django.urls import path

from cloud.fleet import views

app_name = "fleet"
urlpatterns = [
    path("", views.devices, name="devices"),
    path("<str:device_id>/", views.device, name="device"),
    path("<str:device_id>/revoke/", views.revoke, name="revoke"),
]
