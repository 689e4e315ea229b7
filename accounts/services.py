"""Writes for users, teams and roles."""

from fnmatch import fnmatchcase

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import transaction

from .roles import ADMIN, ROLE_PERMISSIONS


def role_permissions_sync(*, apps=global_apps, using: str = "default") -> None:
    """Create the role groups and give each exactly the permissions that `ROLE_PERMISSIONS` declares.

    Works with the live app registry and with a migration's historical one; permissions that do not
    exist yet are created first, because Django only creates them after all migrations ran.
    """
    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module; historical apps have none set.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    all_permissions = list(
        Permission.objects.using(using)
        .select_related("content_type")
        .values_list("id", "content_type__app_label", "codename")
    )
    with transaction.atomic(using=using):
        for role, patterns in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.using(using).get_or_create(name=role)
            wanted = {
                permission_id
                for permission_id, app_label, codename in all_permissions
                if any(fnmatchcase(f"{app_label}.{codename}", pattern) for pattern in patterns)
            }
            group.permissions.set(wanted)


def user_create(*, username: str, password: str, role: str, team=None, is_team_lead: bool = False, **fields):
    """Create a staff member in one role. Admins may also use Django admin."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    with transaction.atomic():
        user = User(username=username, team=team, is_team_lead=is_team_lead, **fields)
        user.is_staff = role == ADMIN
        user.is_superuser = False
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get(name=role)])
    return user


DEMO_USERS = [
    # username, role, team, first name, last name
    ("advisor", "Advisor", "Team Noord", "Anouk", "de Vries"),
    ("advisor2", "Advisor", "Team Zuid", "Bram", "Jansen"),
    ("backoffice", "Back office", None, "Carla", "Bakker"),
    ("admin", "Admin", None, "Daan", "Visser"),
]


def demo_users_ensure(*, password: str) -> list[tuple]:
    """Create (or reset) the demo users: two advisors in different teams, back office and admin."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from .models import Team
    from .roles import ROLE_LABELS

    User = get_user_model()
    users = []
    with transaction.atomic():
        for username, role, team_name, first_name, last_name in DEMO_USERS:
            team = Team.objects.get_or_create(name=team_name)[0] if team_name else None
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name, user.team = first_name, last_name, team
            user.email = f"{username}@steward.local"
            user.is_staff = role == ADMIN
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            users.append((user, str(ROLE_LABELS[role])))
    return users
