from django.contrib import admin
from django.http import HttpRequest

from cloud.ingest.models import DeviceCredential


@admin.register(DeviceCredential)
class DeviceCredentialAdmin(admin.ModelAdmin[DeviceCredential]):
    """Lists tokens and lets an operator revoke one by setting `revoked_at`.

    Tokens are issued with `python -m cloud device_token`, which can show the new token once;
    the admin never sees a token, so it cannot add credentials.
    """

    list_display = ("device", "hint", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("device__id", "hint")
    readonly_fields = ("device", "token_sha256", "hint", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
