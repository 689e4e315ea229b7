"""Create the three roles (Advisor, Back office, Admin) as groups with their permissions."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from accounts.services import role_permissions_sync

    role_permissions_sync(apps=apps, using=schema_editor.connection.alias)


def remove_roles(apps, schema_editor):
    from accounts.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
