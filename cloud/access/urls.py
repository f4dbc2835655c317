from django.urls import path

from cloud.access import views

app_name = "access"
urlpatterns = [
    path("", views.api_tokens, name="tokens"),
    path("<int:token_id>/revoke/", views.revoke_api_token, name="revoke_token"),
]
