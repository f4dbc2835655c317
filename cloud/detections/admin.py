from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cloud.detections.models import Detection, Track


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin[Track]):
    list_display = ("id", "camera", "label", "first_seen", "last_seen")
    list_filter = ("label",)
    search_fields = ("id",)
    list_select_related = ("camera",)
    raw_id_fields = ("best_detection",)


class EmbedStatusFilter(admin.SimpleListFilter):
    """Where a detection's crop stands on its way to the vector store."""

    title = "embedding"
    parameter_name = "embedding"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("done", "embedded"), ("waiting", "waiting"), ("failed", "failed for good")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "done":
            return queryset.filter(embedded_at__isnull=False)
        if self.value() == "waiting":
            return queryset.filter(embedded_at__isnull=True, embed_error="")
        if self.value() == "failed":
            return queryset.exclude(embed_error="")
        return queryset


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin[Detection]):
    list_display = (
        "id",
        "ts",
        "camera",
        "label",
        "score",
        "embedded_at",
        "embed_attempts",
        "embed_error",
    )
    list_filter = (EmbedStatusFilter, "label", "model_name")
    search_fields = ("id",)
    list_select_related = ("camera",)
    raw_id_fields = ("track",)
    date_hierarchy = "ts"
