"""Device.site becomes the key of a Site (filled by 0003). A migration of its own: PostgreSQL
refuses to alter a table with row updates of the same transaction still pending checks."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0003_registry"),
    ]

    operations = [
        migrations.RemoveField(model_name="device", name="site"),
        migrations.RenameField(model_name="device", old_name="site_ref", new_name="site"),
        migrations.AlterField(
            model_name="device",
            name="site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="devices",
                to="fleet.site",
            ),
        ),
    ]
