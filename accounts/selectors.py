"""Reads about users and their roles."""

from .roles import ROLE_LABELS, ROLES


def user_role(user) -> str | None:
    """The user's role (a group name from `ROLES`), or None for a user without a role."""
    if not user.is_authenticated:
        return None
    names = {group.name for group in user.groups.all()}
    return next((role for role in reversed(ROLES) if role in names), None)


def user_role_label(user) -> str:
    role = user_role(user)
    return str(ROLE_LABELS[role]) if role else ""


def user_sees_all_teams(user) -> bool:
    """Back office and admins see every team's clients; advisors only their own team's."""
    return user.has_perm("accounts.view_all_teams")
