from django.contrib import admin

from cloud.fleet.models import Camera, Device, DeviceEvent


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
    list_filter = ("status", "hardware_profile", "site")
    search_fields = ("id", "name", "site")
    # Written only by the devices' own status messages.
    readonly_fields = ("status", "status_seq", "last_seen", "agent_version", "created_at")


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin[Camera]):
    list_display = ("edge_id", "device", "name")
    search_fields = ("edge_id", "name", "device__id")


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin[DeviceEvent]):
    list_display = ("ts", "device", "kind", "seq")
    list_filter = ("kind",)
    search_fields = ("device__id",)
    list_select_related = ("device",)
