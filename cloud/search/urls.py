from django.urls import path

from cloud.search import text_views, views

app_name = "search"
urlpatterns = [
    path("", views.detections, name="detections"),
    path("detections/<str:detection_id>/similar/", views.similar, name="similar"),
    path("text/", text_views.text_search, name="text"),
]
