"""URL map. ``/healthz`` and ``/readyz`` are answered by `cloud.health` before routing."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cloud.api.app import urlpatterns as api_urlpatterns
from cloud.fleet import api as fleet_api
from cloud.fleet import views as fleet_views
from cloud.labels import suggestions_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Must match the local object store's `url_prefix` (default "/objects").
    path("objects/", include("cloud.objects.urls")),
    path("devices/<str:device_id>/", include("cloud.monitoring.urls")),
    path("devices/", include("cloud.fleet.urls")),
    path("models/", include("cloud.deploy.urls")),
    path("rollouts/", include("cloud.rollouts.urls")),
    path("labels/<int:label_id>/classifier/", include("cloud.learned.urls")),
    path("labels/", include("cloud.labels.urls")),
    # Devices call it without a session: the enrolment token is the credential.
    path("api/v1/enrol", fleet_api.enrol, name="enrol"),
    # The JSON API (cloud.api): token or session, JSON errors, OpenAPI at api/v1/openapi.json.
    path("api/v1/", include((api_urlpatterns(), "api"))),
    path("account/tokens/", include("cloud.access.urls")),
    path("datasets/", include("cloud.datasets.urls")),
    path("alerts/", include("cloud.alerts.urls")),
    # Not under devices/: any name there could be a device id.
    path("enrolments/", fleet_views.enrol, name="enrolments"),
    path(
        "labels/<int:label_id>/suggestions/",
        suggestions_views.suggestions,
        name="label_suggestions",
    ),
    path("", include("cloud.search.urls")),
]
