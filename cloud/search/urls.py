from django.urls import path

from cloud.search import example_views, text_views, views

app_name = "search"
urlpatterns = [
    path("", views.detections, name="detections"),
    path("detections/<str:detection_id>/similar/", views.similar, name="similar"),
    path(
        "detections/<str:detection_id>/faces/",
        example_views.detection_face,
        name="detection_faces",
    ),
    path("example/", example_views.example, name="example"),
    path(
        "example/<str:upload_id>/objects/<int:index>/",
        example_views.example_object,
        name="example_object",
    ),
    path(
        "example/<str:upload_id>/faces/<int:index>/",
        example_views.example_face,
        name="example_face",
    ),
    path("text/", text_views.text_search, name="text"),
    path("tracks/<str:track_id>/", views.track, name="track"),
]
