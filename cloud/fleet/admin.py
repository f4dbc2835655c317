from django.contrib import admin

from cloud.fleet.models import Camera, CameraGroup, Device, DeviceEvent, Enrolment, Site, Tag


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ("id", "name", "created_at")
    search_fields = ("id", "name")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin[Tag]):
    search_fields = ("id",)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin[Device]):
    list_display = (
        "id",
        "name",
        "site",
        "hardware_profile",
        "status",
        "last_seen",
        "agent_version",
    )
    list_filter = ("status", "hardware_profile", "site", "tags")
    search_fields = ("id", "name", "site__id")
    filter_horizontal = ("tags",)
    # Written only by the devices' own status messages. The site is fixed at provisioning: the
    # device's broker account is confined to it.
    readonly_fields = ("status", "status_seq", "last_seen", "agent_version", "created_at")

    def get_readonly_fields(self, request: object, obj: Device | None = None) -> tuple[str, ...]:
        fields = tuple(self.readonly_fields)
        return (*fields, "site") if obj is not None else fields


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin[Camera]):
    list_display = ("edge_id", "device", "name")
    search_fields = ("edge_id", "name", "device__id")


@admin.register(CameraGroup)
class CameraGroupAdmin(admin.ModelAdmin[CameraGroup]):
    list_display = ("name", "site")
    list_filter = ("site",)
    search_fields = ("name",)
    filter_horizontal = ("cameras",)


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin[Enrolment]):
    """Read-only: enrolments are made by `cloud.fleet.enrolment`, which alone sees the token."""

    list_display = ("hint", "site", "device_id", "hardware_profile", "expires_at", "used_at")
    list_filter = ("site", "hardware_profile")
    search_fields = ("device_id", "hint")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: Enrolment | None = None) -> bool:
        return False


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin[DeviceEvent]):
    list_display = ("ts", "device", "kind", "seq")
    list_filter = ("kind",)
    search_fields = ("device__id",)
    list_select_related = ("device",)
