from django.urls import path

from cloud.objects import views

app_name = "objects"
urlpatterns = [path("<path:key>", views.presigned_object, name="presigned")]
