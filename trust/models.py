"""Trust's own records."""

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.models import Client

# --- Privacy (trust/privacy*.py, trust/dsar*.py, trust/retention*.py) ------------------------------


class LegalHold(models.Model):
    """A documented reason to keep (part of) a client's data after an erasure request or its period.

    Erasure (trust.dsar.client_erase) and the retention job keep what an active hold's basis needs
    and remove the rest; when the last hold ends, the retention job finishes the erasure.
    """

    class Basis(models.TextChoices):
        WFT_RECORD_KEEPING = "wft", _("Wft record-keeping: the advice file (duty of care)")
        TAX = "tax", _("Tax law: 7 years (AWR art. 52)")
        AML = "wwft", _("Anti-money-laundering: identification, 5 years (Wwft art. 33)")
        CLAIM = "claim", _("A complaint, dispute or legal claim (Kifid, court)")

    client = models.ForeignKey(
        "clients.Client", verbose_name=_("client"), related_name="legal_holds", on_delete=models.PROTECT
    )
    basis = models.CharField(_("basis"), max_length=10, choices=Basis)
    end_date = models.DateField(_("until"), help_text=_("The hold ends after this day."))
    note = models.TextField(_("note"), blank=True, help_text=_("e.g. the case number or the article"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), related_name="+", on_delete=models.PROTECT
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["client", "-end_date"]
        indexes = [
            # Erasure and the retention job: a client's holds still running today.
            models.Index(fields=["client", "end_date"], name="trust_legal_hold_client_idx"),
        ]
        permissions = [
            ("export_client_data", "Can export everything about a client (data-subject access)"),
            ("erase_client", "Can erase (anonymise) a client"),
        ]

    def __str__(self):
        return f"{self.get_basis_display()} until {self.end_date:%Y-%m-%d}"

    def is_active_on(self, day: datetime.date) -> bool:
        return self.end_date >= day


class ErasureRecord(models.Model):
    """Proof that an erasure happened: when, by whom, what was removed and what a hold kept.

    It holds counts and hold ids, never the erased values.
    """

    client = models.ForeignKey(
        "clients.Client", verbose_name=_("client"), related_name="erasures", on_delete=models.PROTECT
    )
    erased_at = models.DateTimeField(_("erased"), default=timezone.now)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        help_text=_("empty: the retention job"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    removed = models.JSONField(_("removed"), default=dict, help_text=_("rows removed or anonymised, by model"))
    kept = models.JSONField(_("kept under a legal hold"), default=dict, help_text=_("by model: the hold ids"))
    complete = models.BooleanField(_("complete"), default=False, help_text=_("nothing was kept under a hold"))

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-erased_at", "-id"]

    def __str__(self):
        return f"{self.client_id} {self.erased_at:%Y-%m-%d %H:%M}"


class DataSubject(Client):
    """A client seen as a data subject: Django admin's list for access requests and erasure."""

    class Meta:
        proxy = True
        verbose_name = _("data subject")
        verbose_name_plural = _("data subjects (access and erasure)")


# --- Audit trail and duty of care (trust/audit*.py, trust/duty_of_care*.py) ------------------------

# The history models of every audited model (django-simple-history, registered in one place).
from . import audit_models  # noqa: E402, F401


class EvaluationRun(models.Model):
    """One run of a framework version over a set of clients: which rules ran when, on whom.

    Recorded per chunk of the book (or per set of changed clients) by `trust.duty_of_care
    .evaluation_run_record`, which the alerts step calls after reconciling (settings
    .STEWARD_AFTER_FRAMEWORK_RUN). A client was in a run when its id lies in [first, last] and,
    for a run over named clients, is in `client_ids` (empty for a whole chunk of the book).
    """

    version = models.ForeignKey(
        "framework.FrameworkVersion", verbose_name=_("framework version"), related_name="+", on_delete=models.PROTECT
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"))
    first_client_id = models.BigIntegerField()
    last_client_id = models.BigIntegerField()
    client_ids = models.JSONField(_("clients"), default=list, blank=True, help_text=_("empty: every client in range"))
    clients = models.PositiveIntegerField(_("clients evaluated"), default=0)
    opened = models.PositiveIntegerField(_("alerts opened"), default=0)
    kept = models.PositiveIntegerField(_("alerts kept"), default=0)
    closed = models.PositiveIntegerField(_("alerts closed"), default=0)

    class Meta:
        verbose_name = _("framework run")
        verbose_name_plural = _("framework runs")
        ordering = ["-started_at", "-id"]
        indexes = [
            # The duty-of-care file: the runs whose id range holds one client.
            models.Index(fields=["first_client_id", "last_client_id"], name="trust_run_client_range_idx"),
        ]
        # The file for the supervisor: the client's own advisors (their team) and admins.
        permissions = [("download_duty_of_care", "Can download a client's duty-of-care file")]

    def __str__(self):
        return f"{self.version_id} {self.started_at:%Y-%m-%d %H:%M} ({self.clients})"

    def covers(self, client_id: int) -> bool:
        return self.first_client_id <= client_id <= self.last_client_id and (
            not self.client_ids or client_id in self.client_ids
        )
