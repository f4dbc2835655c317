from django.urls import path

from cloud.alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alerts, name="alerts"),
    path("new/", views.new_alert, name="new"),
    path("<int:alert_id>/", views.alert, name="alert"),
    path("<int:alert_id>/enabled/", views.enable, name="enable"),
    path("<int:alert_id>/delete/", views.delete, name="delete"),
]
