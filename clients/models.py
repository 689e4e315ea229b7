"""The unified client view: one consolidated record of every client, household and product.

Every model holding client data derives from `SourcedModel`, so each value can say where it comes
from and how old it is (see `clients/provenance.py`). Amounts are Decimal euros; dates of the
advisory domain are `date`s.
"""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from encrypted_fields.fields import EncryptedCharField

from .provenance import Provenance
from .validators import validate_bsn, validate_phone_number

MONEY = {"max_digits": 14, "decimal_places": 2}

postcode_validator = RegexValidator(
    r"^[1-9][0-9]{3} ?[A-Z]{2}$",
    _("Enter a Dutch postcode: four digits and two capital letters, e.g. 1234 AB."),
)


def non_negative(field: str, label: str) -> models.CheckConstraint:
    """A constraint that refuses a negative amount with a message the user can act on."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": 0}) | Q(**{f"{field}__isnull": True}),
        name="%(app_label)s_%(class)s_" + f"{field}_not_negative",
        violation_error_message=_("%(label)s cannot be negative.") % {"label": label},
    )


def one_row_per_slot(parent: str = "client") -> models.UniqueConstraint:
    """Syncs write at most one row per parent and slot (see SyncSlotModel)."""
    return models.UniqueConstraint(
        fields=[parent, "sync_slot"],
        condition=~Q(sync_slot=""),
        name="%(app_label)s_%(class)s_one_row_per_slot",
    )


class SourcedModel(models.Model):
    """A row of the unified view that knows its origin, field by field, and can be soft-deleted."""

    source = models.CharField(_("source"), max_length=50, blank=True)
    source_record_id = models.CharField(_("record id in the source"), max_length=100, blank=True)
    source_changed_at = models.DateTimeField(_("last changed in the source"), null=True, blank=True)
    fetched_at = models.DateTimeField(_("fetched"), null=True, blank=True)
    # Per-field provenance for the fields that did not come from the row's source record.
    provenance = models.JSONField(_("field provenance"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # A record that disappeared from its source is kept, marked with the date it went.
    deleted_at = models.DateTimeField(_("deleted in the source"), null=True, blank=True)

    class Meta:
        abstract = True

    def provenance_for(self, field_name: str) -> Provenance:
        """Where this row's `field_name` value comes from (the field's own entry, else the row's)."""
        entry = self.provenance.get(field_name)
        if entry:
            return Provenance.from_json(entry)
        return Provenance(
            source=self.source,
            record_id=self.source_record_id,
            fetched_at=self.fetched_at,
            changed_at=self.source_changed_at,
        )


class SyncSlotModel(SourcedModel):
    """A product row that syncs may write: at most one per client per kind of row ("slot").

    A source record carries one income, one property, one mortgage... mapped field by field; the
    values of all sources for the same slot merge into one row by the field's source of truth. Rows
    entered or generated otherwise have an empty slot and are never touched by a sync.
    """

    sync_slot = models.CharField(max_length=30, blank=True, editable=False)

    class Meta:
        abstract = True


# --- People ---------------------------------------------------------------------------------------


class Household(SourcedModel):
    """The people who share a home and finances: one or two clients, and their family members."""

    name = models.CharField(_("name"), max_length=200, help_text=_("e.g. 'Household De Vries-Jansen'"))

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")

    def __str__(self):
        return self.name


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class EducationLevel(models.TextChoices):
    # The Dutch levels; advice suitability (Wft) asks for knowledge and experience, not diplomas.
    PRIMARY = "primary", _("Primary school")
    VMBO = "vmbo", _("VMBO")
    HAVO_VWO = "havo_vwo", _("HAVO/VWO")
    MBO = "mbo", _("MBO")
    HBO = "hbo", _("HBO")
    WO = "wo", _("University (WO)")
    UNKNOWN = "unknown", _("Unknown")


class MaritalStatus(models.TextChoices):
    SINGLE = "single", _("Single")
    MARRIED = "married", _("Married")
    REGISTERED_PARTNERSHIP = "registered_partnership", _("Registered partnership")
    COHABITING = "cohabiting", _("Cohabiting")
    DIVORCED = "divorced", _("Divorced")
    WIDOWED = "widowed", _("Widowed")
    UNKNOWN = "unknown", _("Unknown")


class Segment(models.TextChoices):
    """The service level the firm agreed with the client."""

    BASIC = "basic", _("Basic")
    PLUS = "plus", _("Plus")
    PREMIUM = "premium", _("Premium")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    PUSH = "push", _("App push message")
    LETTER = "letter", _("Letter")
    PHONE = "phone", _("Phone")
    MEETING = "meeting", _("Meeting")
    PORTAL = "portal", _("Client portal")


# What a sync's matching reads of a candidate client, carried in the postcode and birth date indexes.
MATCHING_COLUMNS = (
    "id",
    "first_name",
    "last_name_prefix",
    "last_name",
    "birth_date",
    "postcode",
    "email",
    "deleted_at",
)


def _matching_columns(key: str) -> list[str]:
    return [column for column in MATCHING_COLUMNS if column != key]


class Client(SourcedModel):
    """A natural person the firm advises."""

    first_name = models.CharField(_("first name"), max_length=100)
    initials = models.CharField(_("initials"), max_length=20, blank=True)
    last_name_prefix = models.CharField(_("prefix"), max_length=20, blank=True, help_text=_("e.g. 'van der'"))
    last_name = models.CharField(_("last name"), max_length=150)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender, default=Gender.UNKNOWN)
    education_level = models.CharField(
        _("education"), max_length=10, choices=EducationLevel, default=EducationLevel.UNKNOWN
    )
    marital_status = models.CharField(
        _("marital status"), max_length=25, choices=MaritalStatus, default=MaritalStatus.UNKNOWN
    )
    # BSN: only with a legal basis (see settings.STEWARD_BSN_ENABLED); encrypted at rest.
    bsn = EncryptedCharField(_("BSN"), max_length=9, null=True, blank=True, validators=[validate_bsn])
    # HMAC-SHA256 of the BSN under its own key (trust/privacy_bsn.py): a client is found by BSN without
    # decrypting every row, and unlike a plain hash it cannot be reversed by trying all 10^9 numbers.
    bsn_blind_index = models.CharField(max_length=64, blank=True, editable=False)

    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_phone_number])
    street = models.CharField(_("street"), max_length=200, blank=True)
    house_number = models.CharField(_("house number"), max_length=10, blank=True)
    house_number_suffix = models.CharField(_("suffix"), max_length=10, blank=True)
    postcode = models.CharField(_("postcode"), max_length=7, blank=True, validators=[postcode_validator])
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="NL")

    household = models.ForeignKey(
        Household,
        verbose_name=_("household"),
        related_name="clients",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    advisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("advisor"),
        related_name="clients",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    # No index of its own: `client_team_name_idx` starts with the team and serves every lookup by team
    # (and the PROTECT check). Each index of this table costs every new client (a bulk load of
    # 100,000 rows spends about 0.6 s per secondary index at a million clients).
    team = models.ForeignKey(
        "accounts.Team", verbose_name=_("team"), related_name="clients", on_delete=models.PROTECT, db_index=False
    )
    segment = models.CharField(_("segment"), max_length=10, choices=Segment, default=Segment.BASIC)
    client_since = models.DateField(_("client since"), null=True, blank=True)
    # Lower-cased, accent-free "first prefix last" for substring search; a trigram index serves it on
    # PostgreSQL (migration 0002), so searching a million names stays quick.
    search_name = models.CharField(max_length=300, editable=False, db_index=False)

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        indexes = [
            # The client list: a team's clients in name order, paginated by (last_name, first_name, id).
            models.Index(fields=["team", "last_name", "first_name", "id"], name="client_team_name_idx"),
            models.Index(fields=["last_name", "first_name", "id"], name="client_name_idx"),
            # Searches by postcode, birth date and email.
            # They also cover what a sync's matching reads of every client sharing a birth date or a
            # postcode (ingestion/services/sync.py): an index-only scan, no heap row per candidate.
            models.Index(fields=["postcode"], name="client_postcode_idx", include=_matching_columns("postcode")),
            models.Index(fields=["birth_date"], name="client_birth_date_idx", include=_matching_columns("birth_date")),
            models.Index(fields=["email"], name="client_email_idx"),
            # Search by BSN (trust.privacy_bsn.bsn_search_q); only clients with a BSN are indexed.
            models.Index(fields=["bsn_blind_index"], name="client_bsn_index_idx", condition=~Q(bsn_blind_index="")),
        ]
        permissions = [("reveal_bsn", "Can see a client's BSN unmasked")]

    def __str__(self):
        return self.full_name

    def save(self, *args, **kwargs):
        from trust.privacy_bsn import bsn_blind_index

        self.search_name = self.build_search_name()
        self.bsn_blind_index = bsn_blind_index(self.bsn)
        if kwargs.get("update_fields") is not None and "bsn" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "bsn_blind_index"}
        super().save(*args, **kwargs)

    def build_search_name(self) -> str:
        from .search import normalise_search_text

        return normalise_search_text(f"{self.first_name} {self.last_name_prefix} {self.last_name}")

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name_prefix, self.last_name) if part)

    @property
    def address_line(self) -> str:
        number = f"{self.house_number}{self.house_number_suffix}".strip()
        return " ".join(part for part in (self.street, number) if part)

    def age_on(self, day: date) -> int | None:
        if not self.birth_date:
            return None
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def age(self) -> int | None:
        return self.age_on(timezone.localdate())

    @property
    def masked_bsn(self) -> str:
        return f"*****{self.bsn[-4:]}" if self.bsn else ""


class FamilyMember(SourcedModel):
    """A partner or child in a client's household who is not a client themselves (or is: see client)."""

    class Relation(models.TextChoices):
        PARTNER = "partner", _("Partner")
        CHILD = "child", _("Child")
        OTHER = "other", _("Other dependant")

    household = models.ForeignKey(Household, related_name="family_members", on_delete=models.CASCADE)
    relation = models.CharField(_("relation"), max_length=10, choices=Relation)
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    lives_at_home = models.BooleanField(_("lives at home"), default=True)
    client = models.ForeignKey(
        Client,
        verbose_name=_("also a client"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("family member")
        verbose_name_plural = _("family members")

    def __str__(self):
        return f"{self.first_name} ({self.get_relation_display()})"


class Employment(SyncSlotModel):
    class Kind(models.TextChoices):
        EMPLOYED = "employed", _("Employed")
        SELF_EMPLOYED = "self_employed", _("Self-employed")
        RETIRED = "retired", _("Retired")
        UNEMPLOYED = "unemployed", _("Not working")

    client = models.ForeignKey(Client, related_name="employments", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=15, choices=Kind)
    employer = models.CharField(_("employer"), max_length=200, blank=True)
    job_title = models.CharField(_("job"), max_length=200, blank=True)
    start_date = models.DateField(_("start"), null=True, blank=True)
    end_date = models.DateField(_("end"), null=True, blank=True)
    permanent_contract = models.BooleanField(_("permanent contract"), null=True, blank=True)

    class Meta:
        verbose_name = _("employment")
        verbose_name_plural = _("employments")
        constraints = [one_row_per_slot("client")]

    def __str__(self):
        return self.employer or self.get_kind_display()


class Income(SyncSlotModel):
    class Kind(models.TextChoices):
        SALARY = "salary", _("Salary")
        BUSINESS = "business", _("Business profit")
        PENSION = "pension", _("Pension")
        BENEFIT = "benefit", _("Benefit")
        RENTAL = "rental", _("Rental income")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, related_name="incomes", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    gross_annual_amount = models.DecimalField(_("gross per year"), **MONEY)
    employment = models.ForeignKey(Employment, related_name="incomes", on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        verbose_name = _("income")
        verbose_name_plural = _("incomes")
        constraints = [one_row_per_slot("client"), non_negative("gross_annual_amount", _("A gross income"))]

    def __str__(self):
        return f"{self.get_kind_display()} € {self.gross_annual_amount}"


# --- Relationship data ----------------------------------------------------------------------------


class Purpose(models.TextChoices):
    """Why the firm contacts a client; consent is given per purpose and channel (GDPR)."""

    SERVICE = "service", _("Service about current products")
    ADVICE = "advice", _("Advice and after-care")
    COMMERCIAL = "commercial", _("Offers and marketing")
    NEWSLETTER = "newsletter", _("Newsletter")


class ContactPreference(SourcedModel):
    """Consent and preference for one purpose through one channel."""

    class Consent(models.TextChoices):
        GRANTED = "granted", _("Granted")
        REFUSED = "refused", _("Refused")
        UNKNOWN = "unknown", _("Not asked")

    client = models.ForeignKey(Client, related_name="contact_preferences", on_delete=models.CASCADE)
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    consent = models.CharField(_("consent"), max_length=10, choices=Consent, default=Consent.UNKNOWN)
    preferred = models.BooleanField(_("preferred"), default=False)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("contact preference")
        verbose_name_plural = _("contact preferences")
        constraints = [
            models.UniqueConstraint(fields=["client", "purpose", "channel"], name="contact_preference_unique"),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} / {self.get_channel_display()}: {self.get_consent_display()}"


class ContactMoment(SourcedModel):
    """One contact with the client: the history of which channels are used, and how recently."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("From the client")
        OUTBOUND = "outbound", _("To the client")

    client = models.ForeignKey(Client, related_name="contact_moments", on_delete=models.CASCADE)
    occurred_at = models.DateTimeField(_("when"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction)
    subject = models.CharField(_("subject"), max_length=300)
    staff_member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True
    )
    staff_name = models.CharField(_("by (name)"), max_length=200, blank=True, help_text=_("as the source names them"))

    class Meta:
        verbose_name = _("contact moment")
        verbose_name_plural = _("contact moments")
        indexes = [
            # The client page's timeline and "no contact for 12 months": latest contact per client.
            models.Index(fields=["client", "-occurred_at"], name="contact_client_recent_idx"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d} {self.get_channel_display()}: {self.subject}"


class Agreement(SourcedModel):
    """A promise made to the client: what, when agreed, when due."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    client = models.ForeignKey(Client, related_name="agreements", on_delete=models.CASCADE)
    description = models.CharField(_("what"), max_length=300)
    agreed_on = models.DateField(_("agreed on"))
    due_date = models.DateField(_("due"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.OPEN)

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")

    def __str__(self):
        return self.description

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_date is not None and self.due_date < timezone.localdate()


class Complaint(SourcedModel):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        RESOLVED = "resolved", _("Resolved")
        REJECTED = "rejected", _("Rejected")

    client = models.ForeignKey(Client, related_name="complaints", on_delete=models.CASCADE)
    received_on = models.DateField(_("received"))
    subject = models.CharField(_("subject"), max_length=300)
    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.OPEN)
    resolution = models.TextField(_("resolution"), blank=True)
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        constraints = [
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("received_on")),
                name="complaint_resolved_after_received",
                violation_error_message=_("A complaint cannot be resolved before it was received."),
            )
        ]

    def __str__(self):
        return self.subject


class MissedPayment(SourcedModel):
    """A premium or mortgage payment the client missed: an early sign of financial trouble."""

    class Product(models.TextChoices):
        MORTGAGE = "mortgage", _("Mortgage")
        INSURANCE = "insurance", _("Insurance premium")
        LOAN = "loan", _("Loan")

    client = models.ForeignKey(Client, related_name="missed_payments", on_delete=models.CASCADE)
    product = models.CharField(_("product"), max_length=10, choices=Product)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    due_date = models.DateField(_("due"))
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)

    class Meta:
        verbose_name = _("missed payment")
        verbose_name_plural = _("missed payments")
        constraints = [non_negative("amount", _("A missed amount"))]

    def __str__(self):
        return f"{self.get_product_display()} {self.due_date}"


# --- Financial products ---------------------------------------------------------------------------


class Property(SyncSlotModel):
    """A home or other real estate a client owns."""

    class Kind(models.TextChoices):
        HOUSE = "house", _("House")
        APARTMENT = "apartment", _("Apartment")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, related_name="properties", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.HOUSE)
    street = models.CharField(_("street"), max_length=200, blank=True)
    house_number = models.CharField(_("house number"), max_length=10, blank=True)
    postcode = models.CharField(_("postcode"), max_length=7, blank=True, validators=[postcode_validator])
    city = models.CharField(_("city"), max_length=100, blank=True)
    is_primary_residence = models.BooleanField(_("own home"), default=True)
    market_value = models.DecimalField(_("market value"), **MONEY, null=True, blank=True)
    market_value_date = models.DateField(_("valued on"), null=True, blank=True)
    woz_value = models.DecimalField(_("WOZ value"), **MONEY, null=True, blank=True)
    woz_year = models.PositiveSmallIntegerField(_("WOZ year"), null=True, blank=True)
    rebuild_value = models.DecimalField(
        _("rebuild value"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("what rebuilding would cost; the sum to insure"),
    )

    class Meta:
        verbose_name = _("property")
        verbose_name_plural = _("properties")
        constraints = [
            one_row_per_slot("client"),
            non_negative("market_value", _("A market value")),
            non_negative("woz_value", _("A WOZ value")),
            non_negative("rebuild_value", _("A rebuild value")),
        ]

    def __str__(self):
        return " ".join(part for part in (self.street, self.house_number, self.city) if part) or str(_("Property"))


class Mortgage(SyncSlotModel):
    client = models.ForeignKey(Client, related_name="mortgages", on_delete=models.CASCADE)
    property = models.ForeignKey(Property, related_name="mortgages", on_delete=models.SET_NULL, null=True, blank=True)
    lender = models.CharField(_("lender"), max_length=200)
    loan_number = models.CharField(_("loan number"), max_length=100, blank=True)
    start_date = models.DateField(_("start"), null=True, blank=True)
    nhg = models.BooleanField(_("NHG"), default=False, help_text=_("National Mortgage Guarantee"))

    class Meta:
        verbose_name = _("mortgage")
        verbose_name_plural = _("mortgages")
        constraints = [one_row_per_slot("client")]

    def __str__(self):
        return f"{self.lender} {self.loan_number}".strip()


class RepaymentType(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    ANNUITY = "annuity", _("Annuity")
    LINEAR = "linear", _("Linear")
    INTEREST_ONLY = "interest_only", _("Interest-only")
    SAVINGS = "savings", _("Savings-linked")
    INVESTMENT = "investment", _("Investment-linked")


class LoanPart(SyncSlotModel):
    """One part of a mortgage, with its own repayment type and fixed-interest period."""

    mortgage = models.ForeignKey(Mortgage, related_name="loan_parts", on_delete=models.CASCADE)
    part_number = models.PositiveSmallIntegerField(_("part"), default=1)
    repayment_type = models.CharField(
        _("repayment"), max_length=15, choices=RepaymentType, default=RepaymentType.UNKNOWN
    )
    # A CRM often knows only part of a loan (its fixed-rate end, say): amounts may be unknown.
    principal = models.DecimalField(_("principal"), **MONEY, null=True, blank=True)
    outstanding_balance = models.DecimalField(_("outstanding"), **MONEY, null=True, blank=True)
    interest_rate = models.DecimalField(_("interest rate (%)"), max_digits=5, decimal_places=3, null=True, blank=True)
    fixed_rate_end_date = models.DateField(_("fixed rate until"), null=True, blank=True)
    end_date = models.DateField(_("term ends"), null=True, blank=True)

    class Meta:
        verbose_name = _("loan part")
        verbose_name_plural = _("loan parts")
        ordering = ["part_number"]
        constraints = [
            one_row_per_slot("mortgage"),
            non_negative("principal", _("A principal")),
            non_negative("outstanding_balance", _("An outstanding balance")),
            models.CheckConstraint(
                condition=Q(interest_rate__isnull=True) | (Q(interest_rate__gte=0) & Q(interest_rate__lte=20)),
                name="loan_part_interest_rate_range",
                violation_error_message=_("An interest rate must lie between 0%% and 20%%."),
            ),
        ]
        indexes = [
            # "Fixed-interest period ends within N days" over the whole book.
            models.Index(fields=["fixed_rate_end_date"], name="loan_part_fixed_end_idx"),
        ]

    def __str__(self):
        return f"{self.mortgage} #{self.part_number}"


class InsurancePolicy(SyncSlotModel):
    class Kind(models.TextChoices):
        HOME = "home", _("Home (building)")
        CONTENTS = "contents", _("Contents")
        LIFE = "life", _("Life")
        TERM_LIFE = "term_life", _("Term life")
        DISABILITY = "disability", _("Disability")
        LIABILITY = "liability", _("Liability")
        TRAVEL = "travel", _("Travel")
        CAR = "car", _("Car")
        FUNERAL = "funeral", _("Funeral")

    class PremiumFrequency(models.TextChoices):
        MONTHLY = "monthly", _("per month")
        QUARTERLY = "quarterly", _("per quarter")
        YEARLY = "yearly", _("per year")
        SINGLE = "single", _("single premium")

    client = models.ForeignKey(Client, related_name="policies", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    insurer = models.CharField(_("insurer"), max_length=200)
    policy_number = models.CharField(_("policy number"), max_length=100, blank=True)
    insured_amount = models.DecimalField(_("insured amount"), **MONEY, null=True, blank=True)
    premium = models.DecimalField(_("premium"), **MONEY)
    premium_frequency = models.CharField(
        _("premium frequency"), max_length=10, choices=PremiumFrequency, default=PremiumFrequency.MONTHLY
    )
    start_date = models.DateField(_("start"), null=True, blank=True)
    end_date = models.DateField(_("end"), null=True, blank=True)
    property = models.ForeignKey(Property, related_name="policies", on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        verbose_name = _("insurance policy")
        verbose_name_plural = _("insurance policies")
        constraints = [
            one_row_per_slot("client"),
            non_negative("insured_amount", _("An insured amount")),
            non_negative("premium", _("A premium")),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="policy_ends_after_start",
                violation_error_message=_("A policy cannot end before it starts."),
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.insurer})"


class Pension(SyncSlotModel):
    class Kind(models.TextChoices):
        EMPLOYER = "employer", _("Employer scheme")
        INDIVIDUAL = "individual", _("Individual annuity")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, related_name="pensions", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    provider = models.CharField(_("fund or provider"), max_length=200)
    accrued_annual_pension = models.DecimalField(_("accrued per year"), **MONEY, default=Decimal(0))
    projected_annual_pension = models.DecimalField(
        _("projected per year"),
        **MONEY,
        default=Decimal(0),
        help_text=_("at retirement, if accrual continues"),
    )
    retirement_date = models.DateField(_("pays out from"), null=True, blank=True)

    class Meta:
        verbose_name = _("pension")
        verbose_name_plural = _("pensions")
        constraints = [
            one_row_per_slot("client"),
            non_negative("accrued_annual_pension", _("An accrued pension")),
            non_negative("projected_annual_pension", _("A projected pension")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.provider})"


class Asset(SourcedModel):
    """Savings and investments."""

    class Kind(models.TextChoices):
        SAVINGS = "savings", _("Savings account")
        INVESTMENT = "investment", _("Investment account")
        BANK_SAVINGS = "bank_savings", _("Bank savings (banksparen)")
        OTHER = "other", _("Other")

    client = models.ForeignKey(Client, related_name="assets", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind)
    institution = models.CharField(_("institution"), max_length=200)
    balance = models.DecimalField(_("balance"), **MONEY)
    balance_date = models.DateField(_("balance on"), null=True, blank=True)

    class Meta:
        verbose_name = _("savings or investment")
        verbose_name_plural = _("savings and investments")
        constraints = [non_negative("balance", _("A balance"))]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.institution})"


class ConsumerLoan(SourcedModel):
    class Kind(models.TextChoices):
        PERSONAL = "personal", _("Personal loan")
        REVOLVING = "revolving", _("Revolving credit")
        CAR = "car", _("Car loan or lease")
        STUDENT = "student", _("Student loan (DUO)")

    client = models.ForeignKey(Client, related_name="consumer_loans", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    lender = models.CharField(_("lender"), max_length=200)
    outstanding_balance = models.DecimalField(_("outstanding"), **MONEY)
    monthly_payment = models.DecimalField(_("per month"), **MONEY, null=True, blank=True)
    end_date = models.DateField(_("ends"), null=True, blank=True)

    class Meta:
        verbose_name = _("consumer loan")
        verbose_name_plural = _("consumer loans")
        constraints = [
            non_negative("outstanding_balance", _("An outstanding balance")),
            non_negative("monthly_payment", _("A monthly payment")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.lender})"


# --- Accountability -------------------------------------------------------------------------------


class ClientPageView(models.Model):
    """Who opened which client's file, and when: staff must be able to account for every look."""

    client = models.ForeignKey(Client, related_name="page_views", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="+", on_delete=models.PROTECT)
    viewed_at = models.DateTimeField(_("viewed"), default=timezone.now)

    class Meta:
        verbose_name = _("client file opened")
        verbose_name_plural = _("client files opened")
        indexes = [models.Index(fields=["client", "-viewed_at"], name="page_view_client_idx")]

    def __str__(self):
        return f"{self.user} → {self.client_id} at {self.viewed_at:%Y-%m-%d %H:%M}"


# --- Value to the firm ----------------------------------------------------------------------------


class ClientRevenue(models.Model):
    """What a client brought the firm in one calendar year: advice fees and commission received.

    Client data like the rest of the unified view (a CRM or the bookkeeping supplies it); the
    retention view and the facts `client_value` read it. One row per client and year.
    """

    client = models.ForeignKey(Client, verbose_name=_("client"), related_name="revenues", on_delete=models.CASCADE)
    year = models.PositiveSmallIntegerField(_("year"))
    fees = models.DecimalField(_("advice fees"), **MONEY, default=Decimal(0))
    commission = models.DecimalField(_("commission"), **MONEY, default=Decimal(0))

    class Meta:
        verbose_name = _("client revenue")
        verbose_name_plural = _("client revenue")
        ordering = ["client", "-year"]
        constraints = [
            # Also the index of "value of these clients in year Y" (client first) for the facts provider.
            models.UniqueConstraint(fields=["client", "year"], name="client_revenue_one_per_year"),
            non_negative("fees", _("Fees")),
            non_negative("commission", _("Commission")),
        ]
        indexes = [
            # The retention view: the book's value per year, and the top clients of one year.
            models.Index(fields=["year", "client"], name="client_revenue_year_idx"),
        ]

    def __str__(self):
        return f"{self.client_id} {self.year}: {self.fees} + {self.commission}"

    @property
    def total(self) -> Decimal:
        return self.fees + self.commission
