from django.urls import path

from cloud.search import views

app_name = "search"
urlpatterns = [
    path("", views.detections, name="detections"),
    path("detections/<str:detection_id>/similar/", views.similar, name="similar"),
    path("tracks/<str:track_id>/", views.track, name="track"),
]
