"""The register of personal data: every field of every model, with what it is and why Steward has it.

One declarative place, so no other app's models need editing: each entry maps "app_label.Model.field"
to a `Tag` (category, the purposes it may serve, how long it is kept, the legal basis). A field that
is not personal data is tagged too, saying so: `trust/tests/test_privacy_register.py` fails for any
field of any concrete model of Steward's apps that has no tag, naming the field and this file.

From these tags follow:
- the register of processing activities (GDPR art. 30): `processing_register()`, shown to admins at
  /privacy/register/ and written by `manage.py privacy_register --format markdown|csv`;
- purpose limitation: a rule or playbook may only read fields whose purposes include its own
  (`trust.privacy.purpose_check_fields`; the lesson of ING's 2014 plan to use payment data for
  marketing: data collected to serve the client is not for selling to them);
- retention: `trust.retention` removes or anonymises what has outlived its period;
- erasure and access: `trust.dsar` exports and erases what the register says is the client's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.apps import apps
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# The apps whose models hold Steward's data. A new app of the project belongs here.
PROJECT_APPS = (
    "accounts",
    "clients",
    "ingestion",
    "enrichment",
    "framework",
    "alerts",
    "canvas",
    "followup",
    "insights",
    "trust",
)


class Category(models.TextChoices):
    NOT_PERSONAL = "not_personal", _("Not personal data")
    IDENTITY = "identity", _("Identity (name, birth date, gender)")
    NATIONAL_ID = "national_id", _("National identification number (BSN)")
    CONTACT = "contact", _("Contact details and address")
    HOUSEHOLD = "household", _("Household and family")
    SOCIOECONOMIC = "socioeconomic", _("Education and employment")
    FINANCIAL = "financial", _("Financial situation and products")
    RELATIONSHIP = "relationship", _("Relationship history (contacts, agreements, complaints)")
    CONSENT = "consent", _("Consent and contact preferences")
    PROFILE = "profile", _("Derived values and advice signals")
    COMMUNICATION = "communication", _("Messages, bookings and the client's answers")
    SOURCE_COPY = "source_copy", _("Copies of source records")
    ACCESS_LOG = "access_log", _("Access and activity records")
    STAFF = "staff", _("Staff members")


class Purpose(models.TextChoices):
    """Why data is processed. The first four are the contact purposes of clients.models.Purpose
    (a rule or playbook has one of those); the others are the firm's own obligations."""

    SERVICE = "service", _("Service about current products")
    ADVICE = "advice", _("Advice and after-care")
    COMMERCIAL = "commercial", _("Offers and marketing")
    NEWSLETTER = "newsletter", _("Newsletter")
    COMPLIANCE = "compliance", _("Legal obligations (Wft record-keeping, complaints, supervisor)")
    SECURITY = "security", _("Security and accountability (who did what)")
    OPERATIONS = "operations", _("Running Steward (syncs, matching, configuration)")


class LegalBasis(models.TextChoices):
    """GDPR art. 6(1); the BSN needs a basis in law on top (UAVG art. 46)."""

    CONTRACT = "contract", _("Contract with the client (art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation: Wft duty of care and record-keeping (art. 6(1)(c))")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest of the firm (art. 6(1)(f))")
    CONSENT = "consent", _("The client's consent (art. 6(1)(a))")
    LAW_BSN = "law_bsn", _("A statutory basis for the BSN (UAVG art. 46; settings.STEWARD_BSN_LEGAL_BASIS)")
    NONE = "none", _("None needed: not personal data")


# --- Retention ------------------------------------------------------------------------------------

# What a retention period counts from, besides a date or datetime field of the row itself.
RELATIONSHIP_END = "relationship_end"  # the client left every source (Client.deleted_at), then erasure
WHILE_IN_USE = "while_in_use"  # kept while the thing it belongs to exists; removed by hand, not by a clock


class Action(models.TextChoices):
    DELETE = "delete", _("delete the row")
    ANONYMISE = "anonymise", _("anonymise the field")
    ERASE_CLIENT = "erase_client", _("erase the client (trust.dsar.client_erase)")
    NONE = "none", _("nothing (not personal, or removed by hand)")


@dataclass(frozen=True)
class Retention:
    """How long a value is kept: `years`/`months`/`days` after `after`, then `action`.

    `after` is a date/datetime field of the same row ("occurred_at"), RELATIONSHIP_END or WHILE_IN_USE.
    """

    after: str
    action: str
    years: int = 0
    months: int = 0
    days: int = 0
    why: str = ""

    @property
    def is_automatic(self) -> bool:
        return self.action != Action.NONE and self.after != WHILE_IN_USE

    def cutoff(self, now: datetime) -> datetime:
        """Values whose clock is before this moment have expired."""
        from framework.language.dates import add_months

        day = add_months(now.date(), -(12 * self.years + self.months))
        moved = now.replace(year=day.year, month=day.month, day=day.day)
        return moved - _days(self.days)

    def describe(self) -> str:
        parts = []
        if self.years:
            parts.append(ngettext("%(count)d year", "%(count)d years", self.years) % {"count": self.years})
        if self.months:
            parts.append(ngettext("%(count)d month", "%(count)d months", self.months) % {"count": self.months})
        if self.days:
            parts.append(ngettext("%(count)d day", "%(count)d days", self.days) % {"count": self.days})
        period = " ".join(parts)
        if self.after == WHILE_IN_USE:
            text = str(_("while in use; removed by hand"))
        elif self.after == RELATIONSHIP_END:
            text = str(_("%(period)s after the relationship ends") % {"period": period})
        else:
            text = str(_("%(period)s after %(field)s") % {"period": period, "field": self.after})
        if self.action != Action.NONE and self.after != WHILE_IN_USE:
            text += f", {Action(self.action).label}"
        return text + (f" ({self.why})" if self.why else "")


def _days(count: int):
    from datetime import timedelta

    return timedelta(days=count)


@dataclass(frozen=True)
class Tag:
    category: str
    purposes: frozenset[str]
    retention: Retention
    legal_basis: str
    note: str = ""

    @property
    def is_personal(self) -> bool:
        return self.category != Category.NOT_PERSONAL


def purposes(*names: str) -> frozenset[str]:
    return frozenset(names)


S, A, C, N = Purpose.SERVICE, Purpose.ADVICE, Purpose.COMMERCIAL, Purpose.NEWSLETTER
COMPLIANCE, SECURITY, OPERATIONS = Purpose.COMPLIANCE, Purpose.SECURITY, Purpose.OPERATIONS

# The client file is kept for the Wft record-keeping period and the fiscal 7 years (AWR art. 52).
CLIENT_FILE = Retention(RELATIONSHIP_END, Action.ERASE_CLIENT, years=7, why="Wft record-keeping; AWR art. 52")
IN_USE = Retention(WHILE_IN_USE, Action.NONE)
NOT_KEPT_APART = Retention(WHILE_IN_USE, Action.NONE, why="not personal data")

NOT_PERSONAL = Tag(Category.NOT_PERSONAL, frozenset(), NOT_KEPT_APART, LegalBasis.NONE)
# Bookkeeping of a row (its origin and timestamps): personal only through the row it belongs to.
TECHNICAL = Tag(
    Category.NOT_PERSONAL, frozenset(), NOT_KEPT_APART, LegalBasis.NONE, note="row bookkeeping, kept with the row"
)
# Every model may have these without listing them; any other field must be listed below.
TECHNICAL_FIELDS = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "source",
        "source_record_id",
        "source_changed_at",
        "fetched_at",
        "provenance",
        "deleted_at",
        "sync_slot",
        "position",
    }
)


def _client(category, purposes_, basis=LegalBasis.CONTRACT, retention=CLIENT_FILE, note="") -> Tag:
    return Tag(category, purposes_, retention, basis, note)


ADDRESSING = purposes(S, A, C, N, COMPLIANCE)  # what it takes to address a client, for any purpose
ADVICE_ONLY = purposes(S, A, COMPLIANCE)  # the ING lesson: financial data serves the client, not marketing
STAFF_TAG = Tag(Category.STAFF, purposes(SECURITY, COMPLIANCE), IN_USE, LegalBasis.LEGITIMATE_INTEREST)
STAFF_REF = Tag(
    Category.STAFF,
    purposes(SECURITY, COMPLIANCE),
    IN_USE,
    LegalBasis.LEGITIMATE_INTEREST,
    note="who did it; kept with the row it belongs to",
)

IDENTITY = _client(Category.IDENTITY, ADDRESSING)
IDENTITY_ADVICE = _client(Category.IDENTITY, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
CONTACT = _client(Category.CONTACT, ADDRESSING)
HOUSEHOLD = _client(Category.HOUSEHOLD, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
SOCIOECONOMIC = _client(Category.SOCIOECONOMIC, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
FINANCIAL = _client(Category.FINANCIAL, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
RELATIONSHIP = _client(Category.RELATIONSHIP, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
# Which segment a client is in decides both the service level and what offers fit.
SEGMENT = _client(Category.PROFILE, purposes(S, A, C, N), LegalBasis.CONTRACT)
CONSENT = _client(
    Category.CONSENT, purposes(S, A, C, N, COMPLIANCE), LegalBasis.LEGAL_OBLIGATION, note="proof of consent"
)
PROFILE = _client(Category.PROFILE, ADVICE_ONLY, LegalBasis.LEGAL_OBLIGATION)
NATIONAL_ID = _client(
    Category.NATIONAL_ID,
    purposes(S, COMPLIANCE),
    LegalBasis.LAW_BSN,
    note="only with STEWARD_BSN_ENABLED; encrypted, looked up by a blind index",
)
SOURCE_COPY = _client(Category.SOURCE_COPY, purposes(OPERATIONS, S, A, COMPLIANCE), LegalBasis.CONTRACT)


def _log(after: str, years=0, months=0, days=0, action=Action.DELETE, category=Category.ACCESS_LOG, why="", **kw):
    return Tag(
        category,
        kw.get("purposes", purposes(SECURITY, COMPLIANCE)),
        Retention(after, action, years=years, months=months, days=days, why=why),
        kw.get("basis", LegalBasis.LEGITIMATE_INTEREST),
        kw.get("note", ""),
    )


# (model, tag, fields): every listed field of the model gets the tag.
ENTRIES: list[tuple[str, Tag, tuple[str, ...]]] = [
    # --- accounts: staff, teams
    ("accounts.Team", NOT_PERSONAL, ("name",)),
    (
        "accounts.User",
        STAFF_TAG,
        ("username", "first_name", "last_name", "email", "last_login", "date_joined", "team", "is_team_lead"),
    ),
    (
        "accounts.User",
        Tag(Category.STAFF, purposes(SECURITY), IN_USE, LegalBasis.LEGITIMATE_INTEREST, note="a salted hash"),
        ("password",),
    ),
    ("accounts.User", NOT_PERSONAL, ("is_superuser", "is_staff", "is_active", "groups", "user_permissions")),
    # --- clients: the unified view
    ("clients.Household", HOUSEHOLD, ("name",)),
    (
        "clients.Client",
        IDENTITY,
        ("first_name", "initials", "last_name_prefix", "last_name", "search_name"),
    ),
    ("clients.Client", IDENTITY_ADVICE, ("birth_date", "gender")),
    ("clients.Client", SOCIOECONOMIC, ("education_level",)),
    ("clients.Client", HOUSEHOLD, ("marital_status", "household")),
    ("clients.Client", NATIONAL_ID, ("bsn", "bsn_blind_index")),
    (
        "clients.Client",
        CONTACT,
        ("email", "phone", "street", "house_number", "house_number_suffix", "postcode", "city", "country"),
    ),
    ("clients.Client", SEGMENT, ("segment", "client_since")),
    ("clients.Client", STAFF_REF, ("advisor",)),
    ("clients.Client", NOT_PERSONAL, ("team",)),
    (
        "clients.FamilyMember",
        HOUSEHOLD,
        ("household", "relation", "first_name", "last_name", "birth_date", "lives_at_home", "client"),
    ),
    (
        "clients.Employment",
        SOCIOECONOMIC,
        ("client", "kind", "employer", "job_title", "start_date", "end_date", "permanent_contract"),
    ),
    ("clients.Income", FINANCIAL, ("client", "kind", "gross_annual_amount", "employment")),
    ("clients.ContactPreference", CONSENT, ("client", "purpose", "channel", "consent", "preferred", "recorded_at")),
    ("clients.ContactMoment", RELATIONSHIP, ("client", "occurred_at", "channel", "direction", "subject", "staff_name")),
    ("clients.ContactMoment", STAFF_REF, ("staff_member",)),
    ("clients.Agreement", RELATIONSHIP, ("client", "description", "agreed_on", "due_date", "status")),
    ("clients.Complaint", RELATIONSHIP, ("client", "received_on", "subject", "status", "resolution", "resolved_on")),
    ("clients.MissedPayment", FINANCIAL, ("client", "product", "reference", "due_date", "amount", "paid_on")),
    (
        "clients.Property",
        FINANCIAL,
        (
            "client",
            "kind",
            "street",
            "house_number",
            "postcode",
            "city",
            "is_primary_residence",
            "market_value",
            "market_value_date",
            "woz_value",
            "woz_year",
            "rebuild_value",
        ),
    ),
    ("clients.Mortgage", FINANCIAL, ("client", "property", "lender", "loan_number", "start_date", "nhg")),
    (
        "clients.LoanPart",
        FINANCIAL,
        (
            "mortgage",
            "part_number",
            "repayment_type",
            "principal",
            "outstanding_balance",
            "interest_rate",
            "fixed_rate_end_date",
            "end_date",
        ),
    ),
    (
        "clients.InsurancePolicy",
        FINANCIAL,
        (
            "client",
            "kind",
            "insurer",
            "policy_number",
            "insured_amount",
            "premium",
            "premium_frequency",
            "start_date",
            "end_date",
            "property",
        ),
    ),
    (
        "clients.Pension",
        FINANCIAL,
        ("client", "kind", "provider", "accrued_annual_pension", "projected_annual_pension", "retirement_date"),
    ),
    ("clients.Asset", FINANCIAL, ("client", "kind", "institution", "balance", "balance_date")),
    (
        "clients.ConsumerLoan",
        FINANCIAL,
        ("client", "kind", "lender", "outstanding_balance", "monthly_payment", "end_date"),
    ),
    (
        "clients.ClientPageView",
        _log("viewed_at", years=2, why="who opened a client file: long enough to investigate misuse"),
        ("client", "user", "viewed_at"),
    ),
    # What the client brought the firm: bookkeeping, so the fiscal period.
    ("clients.ClientRevenue", FINANCIAL, ("client", "year", "fees", "commission")),
    # --- ingestion: sources and their copies of client data
    (
        "ingestion.Source",
        NOT_PERSONAL,
        (
            "key",
            "name",
            "kind",
            "enabled",
            "config",
            "credentials",
            "default_team",
            "sync_interval_minutes",
            "watermark",
            "resume_cursor",
            "resume_since",
            "resume_high_water",
            "lock_token",
            "locked_at",
            "health",
            "last_success_at",
            "parked_until",
            "consecutive_failures",
        ),
    ),
    (
        "ingestion.Source",
        Tag(
            Category.SOURCE_COPY,
            purposes(OPERATIONS),
            IN_USE,
            LegalBasis.LEGITIMATE_INTEREST,
            note="an error message may quote a record; overwritten by the next sync",
        ),
        ("last_error",),
    ),
    ("ingestion.FieldMapping", NOT_PERSONAL, ("source", "source_path", "target", "transform", "transform_argument")),
    ("ingestion.FieldMapping", NOT_PERSONAL, ("required",)),
    ("ingestion.FieldPrecedence", NOT_PERSONAL, ("target", "strategy", "source_order")),
    # Raw source records hold everything a source said about a person (the BSN sealed, see privacy_bsn).
    ("ingestion.SourceRecord", SOURCE_COPY, ("source_key", "record_id", "client", "values", "changed_at")),
    ("ingestion.SourceRecord", NOT_PERSONAL, ("content_hash",)),
    ("ingestion.DataConflict", SOURCE_COPY, ("client", "target", "winning_value", "other_value", "other_changed_at")),
    ("ingestion.DataConflict", NOT_PERSONAL, ("winning_source", "other_source", "detected_at")),
    (
        "ingestion.SyncRun",
        NOT_PERSONAL,
        (
            "source",
            "trigger",
            "status",
            "started_at",
            "finished_at",
            "cursor_before",
            "cursor_after",
            "pages",
            "expected_records",
            "fetched",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "quarantined",
            "in_review",
            "failed",
        ),
    ),
    (
        "ingestion.SyncRun",
        _log(
            "started_at",
            years=1,
            action=Action.ANONYMISE,
            category=Category.SOURCE_COPY,
            purposes=purposes(OPERATIONS),
            note="an error may quote a record",
        ),
        ("error",),
    ),
    ("ingestion.SyncRun", STAFF_REF, ("triggered_by",)),
    (
        "ingestion.QuarantinedRecord",
        _log(
            "seen_at",  # when the payload it holds was received: a record refused again holds the latest
            days=90,
            category=Category.SOURCE_COPY,
            purposes=purposes(OPERATIONS),
            why="long enough to fix and retry",
            note=(
                "the record as the source sent it, so it may hold a BSN or IBAN Steward never maps: "
                "encrypted at rest, shown masked; the reason is stored with BSNs and IBANs masked"
            ),
        ),
        ("record_id", "raw", "raw_text", "reason", "run", "source", "status", "seen_at", "times_seen", "resolved_at"),
    ),
    (
        "ingestion.MatchCandidate",
        _log(
            "created_at",
            years=1,
            category=Category.SOURCE_COPY,
            purposes=purposes(OPERATIONS, COMPLIANCE),
            why="why two records were linked",
        ),
        ("source_record", "client", "score", "reasons", "status", "decided_at"),
    ),
    ("ingestion.MatchCandidate", STAFF_REF, ("decided_by",)),
    (
        "ingestion.WebhookEvent",
        _log("received_at", days=90, category=Category.SOURCE_COPY, purposes=purposes(OPERATIONS)),
        ("source", "event_id", "record_ids", "received_at"),
    ),
    (
        "ingestion.FileImport",
        _log(
            "created_at",
            days=2,
            action=Action.ANONYMISE,
            category=Category.SOURCE_COPY,
            purposes=purposes(OPERATIONS),
            why="the file is cleared when applied or cancelled; never kept past two days",
            note=(
                "the uploaded file, which may hold BSNs and IBANs; encrypted at rest, "
                "read again by each step (map, preview, apply); an import left for a day is cancelled"
            ),
        ),
        ("content",),
    ),
    (
        "ingestion.FileImport",
        NOT_PERSONAL,
        ("source", "original_filename", "columns", "row_count", "mapping", "record_id_column", "status", "sync_run"),
    ),
    ("ingestion.FileImport", STAFF_REF, ("uploaded_by",)),
    # --- enrichment: derived values, reference data, the client's confirmations
    (
        "enrichment.ClientFacts",
        PROFILE,
        (
            "client",
            "age",
            "state_pension_date",
            "household_type",
            "has_partner",
            "children_count",
            "youngest_child_age",
            "has_dependants",
            "gross_income",
            "projected_retirement_income",
            "replacement_ratio",
            "next_fixed_rate_end_date",
            "days_to_fixed_rate_end",
            "mortgage_balance",
            "indexed_property_value",
            "loan_to_value",
            "interest_only_past_state_pension",
            "insured_to_rebuild_ratio",
            "has_life_cover",
            "days_since_last_contact",
            "open_complaints_over_30_days",
            "open_data_conflicts",
            "stale_field_groups",
            "unknown",
            "computed_at",
        ),
    ),
    ("enrichment.FreshnessPolicy", NOT_PERSONAL, ("group_key", "max_age_days")),
    ("enrichment.ReferenceDataset", NOT_PERSONAL, ("kind", "file_name", "origin", "rows", "loaded_at")),
    ("enrichment.ReferenceDataset", STAFF_REF, ("loaded_by",)),
    ("enrichment.PostcodeArea", NOT_PERSONAL, ("pc4_from", "pc4_to", "municipality", "province", "region")),
    ("enrichment.HousePriceIndex", NOT_PERSONAL, ("region", "region_name", "year", "quarter", "index", "basis")),
    (
        "enrichment.ConfirmationRequest",
        _log(
            "created_at",
            years=1,
            action=Action.ANONYMISE,
            category=Category.COMMUNICATION,
            purposes=ADVICE_ONLY,
            basis=LegalBasis.CONTRACT,
            why="the accepted answers live on in the unified view as the source 'client'",
        ),
        ("email", "current_values", "answers"),
    ),
    (
        "enrichment.ConfirmationRequest",
        RELATIONSHIP,
        ("client", "status", "expires_at", "used_at", "reviewed_at"),
    ),
    ("enrichment.ConfirmationRequest", NOT_PERSONAL, ("token_hash",)),
    ("enrichment.ConfirmationRequest", STAFF_REF, ("requested_by", "reviewed_by")),
    # --- framework: rules are not about anyone; their changelog names staff
    (
        "framework.FrameworkVersion",
        NOT_PERSONAL,
        ("name", "status", "effective_date", "notes", "copied_from", "activated_at", "retired_at"),
    ),
    ("framework.FrameworkVersion", STAFF_REF, ("created_by", "activated_by")),
    (
        "framework.Rule",
        NOT_PERSONAL,
        (
            "version",
            "key",
            "name",
            "description",
            "alert_type",
            "granule",
            "urgency",
            "enabled",
            "kind",
            "condition",
            "hit_policy",
            "parameters",
            "deadline",
            "message_template",
            "legal_basis",
            "purpose",
        ),
    ),
    ("framework.ReportedValue", NOT_PERSONAL, ("rule", "label", "expression")),
    ("framework.ConditionNode", NOT_PERSONAL, ("rule", "outline", "kind", "expression")),
    ("framework.DecisionInput", NOT_PERSONAL, ("rule", "label", "expression")),
    ("framework.DecisionRow", NOT_PERSONAL, ("rule", "cells", "granule", "urgency", "note")),
    (
        "framework.FrameworkChange",
        NOT_PERSONAL,
        ("version", "rule", "rule_key", "changed_at", "action", "field", "old_value", "new_value"),
    ),
    ("framework.FrameworkChange", STAFF_REF, ("user",)),
    (
        "framework.ClientEvaluation",
        Tag(
            Category.PROFILE,
            ADVICE_ONLY,
            IN_USE,
            LegalBasis.LEGAL_OBLIGATION,
            note="when the framework last evaluated the client, under which rules, until when that holds;"
            " deleted with the client",
        ),
        ("client", "rules_key", "evaluated_on", "valid_until"),
    ),
    (
        "framework.ClientChange",
        Tag(
            Category.PROFILE,
            ADVICE_ONLY,
            IN_USE,
            LegalBasis.LEGAL_OBLIGATION,
            note="a client id only: its file changed since the last evaluation; removed by the next run",
        ),
        ("client_id",),
    ),
    # --- alerts: what the framework found about a client
    ("alerts.AlertType", NOT_PERSONAL, ("key", "name", "description")),
    (
        "alerts.Alert",
        _client(
            Category.PROFILE,
            ADVICE_ONLY,
            LegalBasis.LEGAL_OBLIGATION,
            Retention("closed_at", Action.DELETE, years=7, why="the duty-of-care file: what was signalled and done"),
        ),
        (
            "client",
            "message",
            "values",
            "explanation",
            "granulation",
            "values_fingerprint",
            "due_date",
            "status",
            "snoozed_until",
            "status_reason",
            "opened_at",
            "closed_at",
            "priority",
            "quadrant",
            "segment",
        ),
    ),
    ("alerts.Alert", NOT_PERSONAL, ("alert_type", "team", "rule", "rule_version")),
    ("alerts.Alert", STAFF_REF, ("assigned_to",)),
    (
        "alerts.AlertEvent",
        _log("at", years=7, purposes=ADVICE_ONLY, basis=LegalBasis.LEGAL_OBLIGATION, why="as its alert"),
        ("alert", "at", "from_status", "to_status", "reason"),
    ),
    ("alerts.AlertEvent", STAFF_REF, ("by",)),
    # --- canvas: priorities per alert type, not about clients
    ("canvas.Split", NOT_PERSONAL, ("alert_type", "attribute", "bounds")),
    ("canvas.Split", STAFF_REF, ("updated_by",)),
    ("canvas.Placement", NOT_PERSONAL, ("alert_type", "segment", "urgency", "advice_sensitivity")),
    ("canvas.Placement", STAFF_REF, ("updated_by",)),
    (
        "canvas.PlacementChange",
        NOT_PERSONAL,
        (
            "alert_type",
            "segment",
            "at",
            "from_urgency",
            "from_advice_sensitivity",
            "to_urgency",
            "to_advice_sensitivity",
            "alerts_updated",
            "undoes",
            "split",
        ),
    ),
    ("canvas.PlacementChange", STAFF_REF, ("user",)),
    # --- ingestion: added by the sync and worker developers
    (
        "ingestion.SyncRunPart",
        NOT_PERSONAL,
        ("run", "index", "start_cursor", "cursor", "high_water", "finished_at", "lock_token"),
    ),
    (
        "ingestion.TaskAttempt",
        NOT_PERSONAL,
        ("task", "key", "attempts", "last_attempt_at", "dead_lettered_at"),
    ),
    (
        "ingestion.TaskAttempt",
        Tag(
            Category.SOURCE_COPY,
            purposes(OPERATIONS),
            IN_USE,
            LegalBasis.LEGITIMATE_INTEREST,
            note="an error message may quote a record; overwritten by the next attempt",
        ),
        ("last_error",),
    ),
    # --- enrichment: derived values added later
    (
        "enrichment.ClientFacts",
        PROFILE,
        (
            "client_value",
            "products_held",
            "products_ending_within_90_days",
            "open_complaints",
            "engagement_trend",
            "churn_risk_signals",
        ),
    ),
    # --- followup: playbooks are configuration; messages, bookings and answers are the client's
    (
        "followup.Playbook",
        NOT_PERSONAL,
        (
            "name",
            "quadrant",
            "alert_type",
            "segment",
            "purpose",
            "call_to_action",
            "self_service_flow",
            "is_active",
        ),
    ),
    ("followup.Playbook", STAFF_REF, ("updated_by",)),
    ("followup.PlaybookStep", NOT_PERSONAL, ("playbook", "order", "channel", "handled_by", "delivery")),
    ("followup.PlaybookChange", NOT_PERSONAL, ("at", "playbook", "summary")),
    ("followup.PlaybookChange", STAFF_REF, ("by",)),
    ("followup.MessageTemplate", NOT_PERSONAL, ("channel", "language", "playbook", "subject", "body")),
    ("followup.MessageTemplate", STAFF_REF, ("updated_by",)),
    # A client's own limits on contact are consent data: proof that an opt-out was honoured.
    (
        "followup.ClientContactRules",
        CONSENT,
        (
            "client",
            "opted_out",
            "opted_out_at",
            "language",
            "quiet_hours_start",
            "quiet_hours_end",
            "max_messages_per_week",
        ),
    ),
    (
        "followup.Message",
        _client(
            Category.COMMUNICATION,
            purposes(S, A, C, N, COMPLIANCE),
            LegalBasis.CONTRACT,
            Retention("queued_at", Action.DELETE, years=7, why="what the client was told: the duty-of-care file"),
            note="a commercial or newsletter message only with a recorded opt-in (trust.privacy)",
        ),
        (
            "client",
            "channel",
            "delivery",
            "purpose",
            "playbook",
            "call_to_action",
            "self_service_flow",
            "language",
            "subject",
            "body",
            "recipient",
            "status",
            "queued_at",
            "send_after",
            "sent_at",
            "delivered_at",
            "failed_at",
            "failure_reason",
            "opened_at",
            "clicked_at",
            "responded_at",
            "alerts",
        ),
    ),
    (
        "followup.Message",
        NOT_PERSONAL,
        (
            "team",
            "handled_by",
            "idempotency_key",
            "claim_token",
            "claimed_at",
            "provider_call_started_at",
            "provider_reference",
            "attempts",
        ),
    ),
    (
        "followup.MessageAlert",
        _client(
            Category.COMMUNICATION,
            ADVICE_ONLY,
            LegalBasis.CONTRACT,
            Retention(WHILE_IN_USE, Action.NONE, why="with its message"),
        ),
        ("message", "alert", "channel"),
    ),
    (
        "followup.MessageEvent",
        _log("at", years=7, purposes=ADVICE_ONLY, basis=LegalBasis.CONTRACT, why="as its message"),
        ("message", "at", "kind", "detail"),
    ),
    (
        "followup.CallTask",
        _client(
            Category.COMMUNICATION,
            ADVICE_ONLY,
            LegalBasis.CONTRACT,
            Retention(WHILE_IN_USE, Action.NONE, why="with its message"),
        ),
        ("message", "outcome", "note", "done_at"),
    ),
    ("followup.CallTask", NOT_PERSONAL, ("team",)),
    ("followup.CallTask", STAFF_REF, ("assigned_to", "done_by")),
    ("followup.AdvisorAvailability", STAFF_TAG, ("advisor", "weekday", "start_time", "end_time", "slot_minutes")),
    (
        "followup.Booking",
        _client(
            Category.COMMUNICATION,
            ADVICE_ONLY,
            LegalBasis.CONTRACT,
            Retention("ends_at", Action.DELETE, years=7, why="a meeting is part of the advice file"),
        ),
        ("client", "alert", "message", "starts_at", "ends_at", "status"),
    ),
    ("followup.Booking", NOT_PERSONAL, ("team",)),
    ("followup.Booking", STAFF_REF, ("advisor",)),
    (
        "followup.SelfServiceResponse",
        _client(
            Category.COMMUNICATION,
            ADVICE_ONLY,
            LegalBasis.CONTRACT,
            Retention("completed_at", Action.DELETE, years=7, why="the client's own answer: part of the advice file"),
        ),
        ("message", "alert", "client", "flow_key", "answers", "uploaded_file", "completed_at"),
    ),
    # --- insights: per-alert response figures; personal only through the alert they describe
    (
        "insights.ResponseFact",
        _client(
            Category.PROFILE,
            purposes(S, A, COMPLIANCE),
            LegalBasis.LEGITIMATE_INTEREST,
            Retention(WHILE_IN_USE, Action.NONE, why="rebuilt from alerts and messages; goes with its alert"),
            note="aggregated for the firm's insights; never shown per client",
        ),
        (
            "alert",
            "channel",
            "is_primary",
            "segment",
            "quadrant",
            "raised_at",
            "week",
            "sent_at",
            "responded",
            "hours_to_response",
            "meetings_booked",
            "advice_given",
            "alert_hours_to_resolution",
            "alert_hours_to_first_response",
            "alert_meetings_booked",
            "alert_advice_given",
            "refreshed_at",
        ),
    ),
    ("insights.ResponseFact", NOT_PERSONAL, ("team", "alert_type")),
    (
        "insights.ResponseWeek",
        NOT_PERSONAL,
        (
            "week",
            "team",
            "alert_type",
            "segment",
            "quadrant",
            "channel",
            "facts",
            "primary_facts",
            "sent",
            "responded",
            "meetings_booked",
            "advice_given",
            "alert_meetings_booked",
            "alert_advice_given",
            "response_hours",
            "resolution_hours_messaged",
            "first_response_hours",
            "resolution_hours",
            "refreshed_at",
        ),
    ),
    ("insights.RetentionSnapshot", NOT_PERSONAL, ("team", "computed_at")),
    (
        "insights.RetentionSnapshot",
        Tag(
            Category.PROFILE,
            purposes(S, A),
            IN_USE,
            LegalBasis.LEGITIMATE_INTEREST,
            note="team totals, and the ids of the top and at-risk clients; replaced by the next refresh (hourly)",
        ),
        ("figures",),
    ),
    # --- trust: the audit trail's runs and its history of many-to-many links
    (
        "trust.EvaluationRun",
        NOT_PERSONAL,
        ("version", "started_at", "finished_at", "clients", "opened", "kept", "closed"),
    ),
    (
        "trust.EvaluationRun",
        Tag(
            Category.ACCESS_LOG,
            purposes(COMPLIANCE),
            IN_USE,
            LegalBasis.LEGAL_OBLIGATION,
            note="client ids only: which clients a framework run covered (the duty-of-care file)",
        ),
        ("first_client_id", "last_client_id", "client_ids"),
    ),
    ("trust.HistoricalUser_groups", STAFF_REF, ("user", "group", "m2m_history_id")),
    ("trust.HistoricalUser_user_permissions", STAFF_REF, ("user", "permission", "m2m_history_id")),
    ("trust.HistoricalGroup_permissions", NOT_PERSONAL, ("group", "permission", "m2m_history_id")),
    ("auth.Group", NOT_PERSONAL, ("name",)),
    # --- trust: privacy's own records
    (
        "trust.LegalHold",
        _client(
            Category.RELATIONSHIP,
            purposes(COMPLIANCE),
            LegalBasis.LEGAL_OBLIGATION,
            Retention("end_date", Action.DELETE, years=1, why="the hold's own record outlives it by a year"),
        ),
        ("client", "basis", "end_date", "note"),
    ),
    ("trust.LegalHold", STAFF_REF, ("created_by",)),
    (
        "trust.ErasureRecord",
        Tag(
            Category.ACCESS_LOG,
            purposes(COMPLIANCE),
            IN_USE,
            LegalBasis.LEGAL_OBLIGATION,
            note="proof that a request was honoured: ids and counts, no personal data of the client",
        ),
        ("client", "erased_at", "reason", "kept", "removed", "complete"),
    ),
    ("trust.ErasureRecord", STAFF_REF, ("erased_by",)),
]


def _build() -> dict[str, Tag]:
    register: dict[str, Tag] = {}
    for model_label, tag, field_names in ENTRIES:
        for name in field_names:
            key = f"{model_label}.{name}"
            if key in register and register[key] != tag:
                raise ValueError(f"{key} is tagged twice in trust/privacy_register.py")
            register[key] = tag
    return register


REGISTER: dict[str, Tag] = _build()


def _key(model: type[models.Model], field_name: str) -> str:
    return f"{model._meta.app_label}.{model.__name__}.{field_name}"


# The audit trail's own columns (django-simple-history: who, when, why, which source).
HISTORY = Tag(
    Category.ACCESS_LOG,
    purposes(SECURITY, COMPLIANCE),
    Retention(WHILE_IN_USE, Action.NONE, why="as long as the data it describes; erased with the client"),
    LegalBasis.LEGAL_OBLIGATION,
    note="the audit trail: who changed what, when (trust/audit*.py)",
)


def history_original(model: type[models.Model]) -> type[models.Model] | None:
    """The model a history table copies (django-simple-history), or None."""
    original = getattr(model, "instance_type", None)
    return original if isinstance(original, type) and issubclass(original, models.Model) else None


def tag_for(model: type[models.Model], field_name: str) -> Tag | None:
    """The field's tag. A history table's copy of a field has the original field's tag (what it holds
    does not change by being copied); technical fields (TECHNICAL_FIELDS) have a default one."""
    tag = REGISTER.get(_key(model, field_name))
    if tag is not None:
        return tag
    original = history_original(model)
    if original is not None:
        if field_name.startswith("history_") or field_name == "history":
            return HISTORY
        return tag_for(original, field_name)
    if field_name in TECHNICAL_FIELDS:
        return TECHNICAL
    return None


def registered_models() -> list[type[models.Model]]:
    """Every concrete model with a table in Steward's apps (proxies and unmanaged models share one)."""
    found = []
    for label in PROJECT_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        for model in config.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            found.append(model)
    return found


def model_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields that hold data in the model's own table (and its many-to-many tables)."""
    return [
        item
        for item in model._meta.get_fields()
        if (item.concrete and not item.auto_created) or getattr(item, "primary_key", False)
    ]


@dataclass(frozen=True)
class Untagged:
    key: str
    model_file: str

    def __str__(self) -> str:
        return f"{self.key} (declared in {self.model_file})"


def untagged_fields() -> list[Untagged]:
    """Fields without a tag: each must get one in ENTRIES (saying 'not personal data' is a tag too)."""
    import inspect

    missing = []
    for model in registered_models():
        for model_field in model_fields(model):
            if tag_for(model, model_field.name) is None:
                try:
                    where = inspect.getsourcefile(model) or model.__module__
                except TypeError:
                    where = model.__module__
                missing.append(Untagged(_key(model, model_field.name), where))
    return missing


def stale_entries() -> list[str]:
    """Entries for fields that no longer exist (a renamed field must not keep an orphan tag)."""
    existing = {_key(model, item.name) for model in registered_models() for item in model_fields(model)}
    installed = {label for label in PROJECT_APPS if apps.is_installed(label)}
    return sorted(
        key
        for key in REGISTER
        if key not in existing and key.split(".")[0] in installed and _model_exists(key.rsplit(".", 1)[0])
    )


def _model_exists(model_label: str) -> bool:
    try:
        apps.get_model(model_label)
    except LookupError:
        return False
    return True


# --- The register of processing activities (GDPR art. 30) -----------------------------------------


@dataclass
class ProcessingActivity:
    """One line of the art. 30 register: a category of data, what it is for, on what basis, how long."""

    category: str
    purposes: list[str]
    legal_bases: list[str]
    retention: list[str]
    fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def category_label(self) -> str:
        return str(Category(self.category).label)

    @property
    def purpose_labels(self) -> list[str]:
        return [str(Purpose(name).label) for name in self.purposes]

    @property
    def legal_basis_labels(self) -> list[str]:
        return [str(LegalBasis(name).label) for name in self.legal_bases]


_PURPOSE_ORDER = {name: index for index, name in enumerate(Purpose.values)}


def processing_register(*, include_not_personal: bool = False) -> list[ProcessingActivity]:
    """The register of processing, generated from the tags: one activity per category of data."""
    activities: dict[str, ProcessingActivity] = {}
    for model in registered_models():
        for model_field in model_fields(model):
            tag = tag_for(model, model_field.name)
            if tag is None or (not tag.is_personal and not include_not_personal):
                continue
            activity = activities.setdefault(tag.category, ProcessingActivity(tag.category, [], [], []))
            activity.fields.append(_key(model, model_field.name))
            for name in tag.purposes:
                if name not in activity.purposes:
                    activity.purposes.append(name)
            if tag.legal_basis not in activity.legal_bases:
                activity.legal_bases.append(tag.legal_basis)
            retention = tag.retention.describe()
            if retention not in activity.retention:
                activity.retention.append(retention)
            if tag.note and tag.note not in activity.notes:
                activity.notes.append(tag.note)
    order = {name: index for index, name in enumerate(Category.values)}
    result = sorted(activities.values(), key=lambda activity: order[activity.category])
    for activity in result:
        activity.purposes.sort(key=_PURPOSE_ORDER.get)
    return result


def processing_register_fields() -> list[tuple[str, Tag]]:
    """Every tagged field with its tag, for the detailed register (CSV)."""
    rows = []
    for model in registered_models():
        for model_field in model_fields(model):
            tag = tag_for(model, model_field.name)
            if tag is not None:
                rows.append((_key(model, model_field.name), tag))
    return rows


def tags_of_model(model: type[models.Model]) -> dict[str, Tag]:
    return {item.name: tag for item in model_fields(model) if (tag := tag_for(model, item.name)) is not None}


def today_cutoff_date(retention: Retention, today: date) -> date:
    """For date fields: values on or before this day have expired."""
    from framework.language.dates import add_months

    return add_months(today, -(12 * retention.years + retention.months)) - _days(retention.days)
