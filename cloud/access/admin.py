"""The admin site: a user's role and grants edited on the user's own page; API tokens listed."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from cloud.access.models import Access, ApiToken


class AccessInline(admin.StackedInline[Access, User]):
    model = Access
    filter_horizontal = ("sites", "groups")


class UserWithAccessAdmin(UserAdmin[User]):
    inlines = (*UserAdmin.inlines, AccessInline)


admin.site.unregister(User)
admin.site.register(User, UserWithAccessAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "user", "hint", "created_at", "last_used_at", "revoked_at")
    # Tokens are made by their users; the admin only sees and revokes them.
    readonly_fields = ("user", "name", "token_sha256", "hint", "created_at", "last_used_at")
