"""The admin site: a user's role and grants edited on the user's own page."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from cloud.access.models import Access, ApiToken


class AccessInline(admin.StackedInline[Access, Access]):
    model = Access
    filter_horizontal = ("sites", "groups")


class UserWithAccessAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = (*UserAdmin.inlines, AccessInline)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserWithAccessAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "user", "hint", "created_at", "last_used_at", "revoked_at")
    # Tokens are made by their users; the admin only sees and revokes them.
    readonly_fields = ("user", "name", "token_sha256", "hint", "created_at", "last_used_at")
