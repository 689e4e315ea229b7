"""Derived values ("facts") per client, kept current by the enrichment providers.

`ClientFacts` is one row per client: the feature table that the advisory framework's rules read
set-based, next to the unified view's own fields. Every fact is computed in bulk by a registered
provider (enrichment/providers/), and says what derived it and when (`provenance`). A fact a
provider could not compute is NULL with the reason in `unknown`: never zero, never a guess.
"""

from django.conf import settings
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
    insured_to_rebuild_ratio = models.DecimalField(_("home insured / rebuild value"), **RATIO, null=True, blank=True)
    has_life_cover = models.BooleanField(_("has life cover"), null=True)

    # Relationship
    days_since_last_contact = models.IntegerField(_("days since last contact"), null=True, blank=True)
    open_complaints_over_30_days = models.PositiveIntegerField(_("open complaints older than 30 days"), default=0)
    open_data_conflicts = models.PositiveIntegerField(_("open data conflicts"), default=0)
    stale_field_groups = models.JSONField(
        _("stale data"), default=list, blank=True, help_text=_("keys of field groups older than allowed")
    )

    # Value and retention (enrichment/providers/retention.py): what the client is worth to the firm
    # and the signals that they may leave, so rules can single out valuable clients at risk.
    client_value = models.DecimalField(
        _("client value per year"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("advice fees plus commission in the last complete calendar year"),
    )
    products_held = models.PositiveIntegerField(_("products held"), null=True, blank=True)
    products_ending_within_90_days = models.PositiveIntegerField(
        _("products ending within 90 days"), null=True, blank=True
    )
    open_complaints = models.PositiveIntegerField(_("open complaints"), null=True, blank=True)
    engagement_trend = models.IntegerField(
        _("engagement trend"),
        null=True,
        blank=True,
        help_text=_("contacts in the last 6 months minus contacts in the 6 months before (negative: falling)"),
    )
    churn_risk_signals = models.PositiveSmallIntegerField(
        _("churn-risk signals"),
        null=True,
        blank=True,
        help_text=_(
            "how many of: an open complaint, a product ending within 90 days, no contact for a year, falling engagement"
        ),
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


# --- Freshness ------------------------------------------------------------------------------------


def _field_group_choices() -> list[tuple[str, str]]:
    from clients.freshness import FIELD_GROUPS

    return [(group.key, group.label) for group in FIELD_GROUPS]


class FreshnessPolicy(models.Model):
    """How old a group of fields may get before it is stale, as this firm decides.

    Seeded from the defaults in `clients.freshness`; a group without a row keeps its default. The
    360° page reads these once per page (see `clients.freshness.max_age_overrides_register`).
    """

    group_key = models.CharField(_("field group"), max_length=30, unique=True, choices=_field_group_choices)
    max_age_days = models.PositiveIntegerField(
        _("maximum age (days)"), help_text=_("A value older than this is stale: e.g. 365 for a year.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("freshness rule")
        verbose_name_plural = _("freshness rules")
        ordering = ["group_key"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_age_days__gte=1),
                name="freshness_policy_max_age_positive",
                violation_error_message=_("A maximum age must be at least one day."),
            )
        ]

    def __str__(self):
        return f"{self.get_group_key_display()}: {self.max_age_days}"


# --- Reference data -------------------------------------------------------------------------------


class ReferenceDataset(models.Model):
    """What reference table is loaded, from which file, and where its figures come from."""

    class Kind(models.TextChoices):
        POSTCODE_AREAS = "postcode_areas", _("Postcode areas")
        HOUSE_PRICE_INDEX = "house_price_index", _("House price index")

    kind = models.CharField(_("table"), max_length=30, choices=Kind, unique=True)
    file_name = models.CharField(_("file"), max_length=255)
    origin = models.TextField(_("origin of the figures"), help_text=_("The comment lines at the top of the file."))
    rows = models.PositiveIntegerField(_("rows"))
    loaded_at = models.DateTimeField(_("loaded"), default=timezone.now)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("loaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("reference table")
        verbose_name_plural = _("reference tables")

    def __str__(self):
        return f"{self.get_kind_display()} ({self.rows} rows, {self.file_name})"


class PostcodeArea(models.Model):
    """A range of four-digit postcodes and the municipality, province and price-index region it lies in.

    Ranges may nest: a municipality's range inside its province's; the narrowest range wins.
    """

    pc4_from = models.PositiveSmallIntegerField(_("from postcode"))
    pc4_to = models.PositiveSmallIntegerField(_("to postcode"))
    municipality = models.CharField(_("municipality"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=50)
    region = models.CharField(_("price-index region"), max_length=10, help_text=_("e.g. PV26 for Utrecht"))

    class Meta:
        verbose_name = _("postcode area")
        verbose_name_plural = _("postcode areas")
        ordering = ["pc4_from", "-pc4_to"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(pc4_from__gte=1000, pc4_to__lte=9999, pc4_from__lte=models.F("pc4_to")),
                name="postcode_area_range_valid",
            )
        ]

    def __str__(self):
        return f"{self.pc4_from}-{self.pc4_to} {self.municipality or self.province}"


class HousePriceIndex(models.Model):
    """The price index of existing owner-occupied homes for one region and quarter (CBS style, 2020=100)."""

    region = models.CharField(_("region"), max_length=10)
    region_name = models.CharField(_("region name"), max_length=100)
    year = models.PositiveSmallIntegerField(_("year"))
    quarter = models.PositiveSmallIntegerField(_("quarter"))
    index = models.DecimalField(_("index"), max_digits=8, decimal_places=2)
    basis = models.CharField(
        _("basis"), max_length=30, blank=True, help_text=_("e.g. 'cbs' for a published figure, 'approximation'")
    )

    class Meta:
        verbose_name = _("house price index")
        verbose_name_plural = _("house price index")
        ordering = ["region", "year", "quarter"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year", "quarter"], name="house_price_index_unique"),
            models.CheckConstraint(condition=models.Q(quarter__gte=1, quarter__lte=4), name="house_price_quarter_1_4"),
            models.CheckConstraint(condition=models.Q(index__gt=0), name="house_price_index_positive"),
        ]

    def __str__(self):
        return f"{self.region} {self.year}-Q{self.quarter}: {self.index}"


# --- Client confirmation --------------------------------------------------------------------------


class ConfirmationRequest(models.Model):
    """A secure link that asks a client to confirm or correct stale data.

    The link carries a random token, signed; only its SHA-256 is stored, so the database alone cannot
    be used to answer in the client's name. A request is answered at most once and expires.
    Answers are written to the unified view (as source "client") only when back office accepts them.
    """

    class Status(models.TextChoices):
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered, to review")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    client = models.ForeignKey(
        Client, verbose_name=_("client"), related_name="confirmation_requests", on_delete=models.CASCADE
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("sent by"), related_name="+", null=True, on_delete=models.SET_NULL
    )
    email = models.EmailField(_("sent to"))
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # What Steward held when the link was sent: shown to the client as the values to confirm.
    current_values = models.JSONField(_("values we had"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.SENT)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("answered"), null=True, blank=True)
    answers = models.JSONField(_("the client's answers"), default=dict, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)

    class Meta:
        verbose_name = _("confirmation request")
        verbose_name_plural = _("confirmation requests")
        ordering = ["-created_at"]
        indexes = [
            # The review queue: answered requests, oldest first.
            models.Index(fields=["status", "used_at"], name="confirmation_status_idx"),
        ]

    def __str__(self):
        return f"{self.client} ({self.get_status_display()}, {self.created_at:%Y-%m-%d})"

    def is_open(self, now=None) -> bool:
        """The link can still be answered: sent, not answered yet, not expired."""
        return self.status == self.Status.SENT and self.used_at is None and (now or timezone.now()) < self.expires_at
