from django.urls import path

from cloud.fleet import views

app_name = "fleet"
urlpatterns = [
    path("", views.devices, name="devices"),
]
