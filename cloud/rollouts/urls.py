from django.urls import path

from cloud.rollouts import views

app_name = "rollouts"
urlpatterns = [
    path("", views.rollouts, name="rollouts"),
    # Before <name>: the form refuses to name a rollout `new` (RESERVED_NAMES).
    path("new/", views.new, name="new"),
    path("<str:name>/", views.rollout, name="rollout"),
    path("<str:name>/act/", views.act, name="act"),
]
