"""Users from before roles keep what they had: every one of them saw every camera, and staff
enrolled devices and ran rollouts. So superusers become admins, staff operators and everyone
else viewers, all of every site. Users made from now on see nothing until granted."""

from typing import Any

from django.db import migrations


def grant_existing(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model("auth", "User")
    access_model = apps.get_model("access", "Access")
    for user in user_model.objects.filter(access__isnull=True):
        role = "admin" if user.is_superuser else "operator" if user.is_staff else "viewer"
        access_model.objects.create(user=user, role=role, all_sites=True)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant_existing, migrations.RunPython.noop)]
