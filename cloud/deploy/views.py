"""Model registry pages: the versions and an upload form; each device's desired vs reported
state (the reported state is the truth shown: what the device says it runs).

The versions are for users who see every site (the drift lists every site's devices) and
uploads for operators among them; a device's state is for users who see the device
(`cloud.access`)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from cloud.access import scope
from cloud.access.models import Role
from cloud.access.roles import require_role
from cloud.deploy import registry, services
from cloud.deploy.forms import UploadForm
from cloud.deploy.models import ModelVersion
from cloud.errors import InvalidInput, NotFound
from cloud.lib.objectstore import ObjectStoreError


@require_safe
@require_role(Role.VIEWER, fleet_wide=True)
def versions(request: HttpRequest) -> HttpResponse:
    """Every model version, and the devices whose state differs from what they should run."""
    return render(
        request,
        "deploy/versions.html",
        {
            "versions": ModelVersion.objects.order_by("name", "-uploaded_at"),
            "drift": services.drift(),
        },
    )


@require_http_methods(["GET", "POST"])
@require_role(Role.OPERATOR, fleet_wide=True)
def upload(request: HttpRequest) -> HttpResponse:
    """Upload a signed model version."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version, created = registry.upload_model(
                registry.Upload(
                    onnx=data["onnx"].read(),
                    manifest_toml=data["manifest"].read(),
                    signature=data["signature"],
                    key_id=data["key_id"].strip(),
                ),
                uploaded_by=request.user.get_username(),
            )
        except (InvalidInput, ObjectStoreError) as err:
            form.add_error(None, str(err))
        else:
            verb = "uploaded" if created else "was already in the registry"
            messages.success(request, f"{version} {verb}")
            return redirect("deploy:versions")
    return render(request, "deploy/upload.html", {"form": form}, status=400 if form.errors else 200)


@require_safe
def device(request: HttpRequest, device_id: str) -> HttpResponse:
    """One device's desired state, its reported state, and the drift between them."""
    scope.require_visible_device(request.user, device_id)
    try:
        found = services.deployment(device_id)
    except NotFound as err:
        raise Http404(str(err)) from err
    desired = None
    if found is not None:
        names = services.model_names(found.desired.cameras.values())
        desired = {
            camera or "every camera": names[pk] for camera, pk in found.desired.cameras.items()
        }
    return render(
        request,
        "deploy/device.html",
        {
            "device_id": device_id,
            "deployment": found,
            "desired_models": desired,
            "reported": services.reported_only(device_id),
        },
    )
