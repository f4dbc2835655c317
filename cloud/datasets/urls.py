from django.urls import path

from cloud.datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.exports, name="exports"),
    path("<uuid:export_id>/", views.export, name="export"),
    path("<uuid:export_id>/download/", views.download, name="download"),
]
