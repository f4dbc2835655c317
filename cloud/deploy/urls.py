from django.urls import path

from cloud.deploy import views

app_name = "deploy"
urlpatterns = [
    path("", views.versions, name="versions"),
    path("upload/", views.upload, name="upload"),
    path("devices/<str:device_id>/", views.device, name="device"),
]
