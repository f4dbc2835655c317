from django.contrib import admin

from cloud.monitoring.models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin[Alert]):
    """Alerts, newest first; read-only: the alert pass raises and resolves them."""

    list_display = ("device", "kind", "detail", "raised_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("device__id", "detail")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
