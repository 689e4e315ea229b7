from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    """A group of advisors sharing a book of clients. Advisors only ever see their team's clients."""

    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A member of the firm's staff. Clients never log in; they reach Steward through signed links."""

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        related_name="members",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text=_("Advisors see only the clients of their team."),
    )
    is_team_lead = models.BooleanField(
        _("team lead"), default=False, help_text=_("A team lead sees the whole team's work queue.")
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


class Area(models.Model):
    """Holds the permissions that open the areas of the navigation; it has no table.

    Django attaches permissions to models, and these belong to no single model.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("access_clients", "Can use the client pages"),
            ("access_sources", "Can see the sources and their syncs"),
            ("access_framework", "Can edit the advisory framework"),
            ("access_alerts", "Can use the alert dashboard"),
            ("access_canvas", "Can use the canvas"),
            ("access_followup", "Can use follow-up"),
            ("access_insights", "Can see insights"),
            ("view_all_teams", "Can see the clients of every team"),
        ]

    def __str__(self):
        return "navigation areas"
