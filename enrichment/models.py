"""Derived values ("facts") per client, kept current by the enrichment providers.

`ClientFacts` is one row per client: the feature table that the advisory framework's rules read
set-based, next to the unified view's own fields. Every fact is computed in bulk by a registered
provider (enrichment/providers/), and says what derived it and when (`provenance`). A fact a
provider could not compute is NULL with the reason in `unknown`: never zero, never a guess.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.models import Client

MONEY = {"max_digits": 14, "decimal_places": 2}
RATIO = {"max_digits": 9, "decimal_places": 4}


class HouseholdType(models.TextChoices):
    SINGLE = "single", _("Single")
    COUPLE = "couple", _("Couple without children")
    FAMILY = "family", _("Couple with children")
    SINGLE_PARENT = "single_parent", _("Single parent")
    UNKNOWN = "unknown", _("Unknown")


class ClientFacts(models.Model):
    client = models.OneToOneField(Client, primary_key=True, related_name="facts", on_delete=models.CASCADE)

    # Person and household
    age = models.PositiveSmallIntegerField(_("age"), null=True, blank=True)
    state_pension_date = models.DateField(_("state pension (AOW) starts"), null=True, blank=True)
    household_type = models.CharField(
        _("household"), max_length=15, choices=HouseholdType, default=HouseholdType.UNKNOWN
    )
    has_partner = models.BooleanField(_("has a partner"), null=True)
    children_count = models.PositiveSmallIntegerField(_("children"), null=True, blank=True)
    youngest_child_age = models.PositiveSmallIntegerField(_("youngest child's age"), null=True, blank=True)
    has_dependants = models.BooleanField(_("has dependants"), null=True, help_text=_("a partner or children under 18"))

    # Income and pension
    gross_income = models.DecimalField(_("gross income per year"), **MONEY, null=True, blank=True)
    projected_retirement_income = models.DecimalField(
        _("projected retirement income per year"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("projected pensions plus the state pension (AOW)"),
    )
    replacement_ratio = models.DecimalField(
        _("pension replacement ratio"), **RATIO, null=True, blank=True, help_text=_("retirement income / gross income")
    )

    # Mortgage and home
    next_fixed_rate_end_date = models.DateField(_("next fixed-rate period ends"), null=True, blank=True)
    days_to_fixed_rate_end = models.IntegerField(_("days to fixed-rate end"), null=True, blank=True)
    mortgage_balance = models.DecimalField(_("outstanding mortgage"), **MONEY, null=True, blank=True)
    indexed_property_value = models.DecimalField(_("indexed property value"), **MONEY, null=True, blank=True)
    loan_to_value = models.DecimalField(_("loan-to-value"), **RATIO, null=True, blank=True)
    interest_only_past_state_pension = models.BooleanField(_("interest-only runs past AOW"), null=True)
    insured_to_rebuild_ratio = models.DecimalField(
        _("home insured / rebuild value"), **RATIO, null=True, blank=True
    )
    has_life_cover = models.BooleanField(_("has life cover"), null=True)

    # Relationship
    days_since_last_contact = models.IntegerField(_("days since last contact"), null=True, blank=True)
    open_complaints_over_30_days = models.PositiveIntegerField(_("open complaints older than 30 days"), default=0)
    open_data_conflicts = models.PositiveIntegerField(_("open data conflicts"), default=0)
    stale_field_groups = models.JSONField(
        _("stale data"), default=list, blank=True, help_text=_("keys of field groups older than allowed")
    )

    # Why a fact is missing, and who computed each one: {"loan_to_value": "no property value"}.
    unknown = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)  # {"age": {"by": "age", "at": iso}}
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("derived values")
        verbose_name_plural = _("derived values")
        indexes = [
            # Rules over the whole book filter on these.
            models.Index(fields=["days_to_fixed_rate_end"], name="facts_fixed_rate_days_idx"),
            models.Index(fields=["age"], name="facts_age_idx"),
        ]

    def __str__(self):
        return f"facts of client {self.client_id}"
