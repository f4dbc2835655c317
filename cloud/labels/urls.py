from django.urls import path

from cloud.labels import views

app_name = "labels"
urlpatterns = [
    path("", views.labels, name="labels"),
    path("<int:label_id>/", views.label, name="label"),
    path("<int:label_id>/edit/", views.edit, name="edit"),
    path("<int:label_id>/delete/", views.delete, name="delete"),
    path("<int:label_id>/marks/", views.mark, name="mark"),
    path("<int:label_id>/undo/", views.undo, name="undo"),
    path("<int:label_id>/crops/<str:detection_id>/", views.labelling, name="labelling"),
    path("crops/<str:detection_id>/", views.crop_labels, name="crop"),
]
