from django.contrib import admin

from cloud.detections.models import Detection, Track


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin[Track]):
    list_display = ("id", "camera", "label", "first_seen", "last_seen")
    list_filter = ("label",)
    search_fields = ("id",)
    list_select_related = ("camera",)
    raw_id_fields = ("best_detection",)


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin[Detection]):
    list_display = ("id", "ts", "camera", "label", "score", "embedded_at")
    list_filter = ("label", "model_name")
    search_fields = ("id",)
    list_select_related = ("camera",)
    raw_id_fields = ("track",)
    date_hierarchy = "ts"
