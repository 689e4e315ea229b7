"""Asking a client to confirm or correct stale data through a secure link, and reviewing the answers.

The flow: back office sends a request (`confirmation_request_send`: a link by email), the client opens
the link without logging in and answers once (`confirmation_request_answer`), back office reviews:
accepting writes the answers to the unified view as the client's own source ("client", with its own
precedence) through ingestion's `client_answers_record`; rejecting writes nothing.

The link holds a random token, signed with the site's secret (a tampered link is refused before the
database is asked); the database keeps only the token's SHA-256. A link is answered at most once (a
conditional UPDATE claims it) and expires after VALID_FOR.
"""

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from clients.models import Client, FamilyMember, Income, MaritalStatus
from ingestion.services.records import client_answers_record

from ..models import ClientFacts, ConfirmationRequest

VALID_FOR = timedelta(days=14)
SIGNING_SALT = "enrichment.confirmation-link"

WITH_PARTNER = {MaritalStatus.MARRIED, MaritalStatus.REGISTERED_PARTNERSHIP, MaritalStatus.COHABITING}
WITHOUT_PARTNER = {MaritalStatus.SINGLE, MaritalStatus.DIVORCED, MaritalStatus.WIDOWED}
INCOME_KINDS = [Income.Kind.SALARY, Income.Kind.BUSINESS, Income.Kind.BENEFIT, Income.Kind.OTHER]


class ConfirmationLinkInvalid(Exception):
    """The link cannot be answered; `reason` is "invalid", "expired" or "used"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- What we hold, and what the answers would write ----------------------------------------------


def confirmation_current_values(*, client: Client) -> dict:
    """What Steward holds now for the questions of the form, as JSON (money as text)."""
    incomes = [income for income in client.incomes.filter(deleted_at__isnull=True) if income.kind in INCOME_KINDS]
    slot_income = next((income for income in incomes if income.sync_slot == "income"), None)
    gross = (
        slot_income.gross_annual_amount if slot_income else sum((i.gross_annual_amount for i in incomes), Decimal(0))
    )
    employment = (
        client.employments.filter(deleted_at__isnull=True, end_date__isnull=True)
        .order_by("-sync_slot", "-start_date")
        .first()
    )
    home = (
        client.properties.filter(deleted_at__isnull=True, is_primary_residence=True)
        .order_by("-sync_slot", "-market_value_date")
        .first()
    )
    members = client.household.family_members.filter(deleted_at__isnull=True) if client.household_id else None
    try:
        has_partner = client.facts.has_partner
    except ClientFacts.DoesNotExist:
        has_partner = None
    if has_partner is None:  # not derived yet: what the household and the marital status say
        has_partner = client.marital_status in WITH_PARTNER or bool(
            client.household_id
            and (
                client.household.clients.exclude(pk=client.pk).exists()
                or members.filter(relation=FamilyMember.Relation.PARTNER).exists()
            )
        )
    return {
        "gross_annual_income": str(gross) if incomes else "",
        "employer": employment.employer if employment else "",
        "job_title": employment.job_title if employment else "",
        "has_partner": bool(has_partner),
        "children_count": members.filter(relation=FamilyMember.Relation.CHILD).count() if members is not None else 0,
        "property_value": str(home.market_value) if home and home.market_value is not None else "",
        "has_home": home is not None,
        "marital_status": client.marital_status,
    }


def marital_status_from_answer(current: str, has_partner: bool) -> str | None:
    """The marital status to record for the client's "do you have a partner?", or None to leave it.

    Only what the answer implies is written: a partner and no status that says so becomes "cohabiting"
    (living together, the least the answer says); no partner after "cohabiting" becomes "single". No
    partner while married or in a registered partnership could be a divorce or a death: back office
    updates that by hand.
    """
    if has_partner:
        return current if current in WITH_PARTNER else MaritalStatus.COHABITING
    if current in WITHOUT_PARTNER:
        return current
    if current == MaritalStatus.COHABITING:
        return MaritalStatus.SINGLE
    return None


def confirmation_values_to_record(confirmation: ConfirmationRequest) -> tuple[dict, list[str]]:
    """The targets and values accepting would write, and what back office must update by hand."""
    answers, current = confirmation.answers, confirmation.current_values
    values: dict = {}
    by_hand: list[str] = []
    if answers.get("gross_annual_income") not in (None, ""):
        values["income.gross_annual_amount"] = Decimal(str(answers["gross_annual_income"]))
    if answers.get("employer"):
        values["employment.employer"] = answers["employer"]
    if answers.get("job_title"):
        values["employment.job_title"] = answers["job_title"]
    if answers.get("property_value") not in (None, ""):
        values["property.market_value"] = Decimal(str(answers["property_value"]))
        # The client's estimate is a valuation as of the day they gave it.
        answered = confirmation.used_at or timezone.now()
        values["property.market_value_date"] = timezone.localdate(answered)
    if "has_partner" in answers:
        status = marital_status_from_answer(
            current.get("marital_status", MaritalStatus.UNKNOWN), answers["has_partner"]
        )
        if status is not None:
            values["client.marital_status"] = status
        else:
            by_hand.append(_("The client says they no longer have a partner: update the marital status by hand."))
    if "children_count" in answers and answers["children_count"] != current.get("children_count"):
        by_hand.append(
            _("The client says they have %(answer)s child(ren); Steward has %(current)s: update the family members.")
            % {"answer": answers["children_count"], "current": current.get("children_count")}
        )
    return values, by_hand


# --- The flow ------------------------------------------------------------------------------------


@transaction.atomic
def confirmation_request_send(
    *, client: Client, requested_by, link_for: Callable[[str], str], valid_for: timedelta = VALID_FOR
) -> tuple[ConfirmationRequest, str]:
    """Create a request and email the client its link (after commit). Returns the request and the link.

    The link is shown to back office once, too, so it can be passed on another way; it is not stored.
    """
    if not client.email:
        raise ValidationError(_("This client has no email address to send the link to."))
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    confirmation = ConfirmationRequest.objects.create(
        client=client,
        requested_by=requested_by,
        email=client.email,
        token_hash=_token_hash(token),
        current_values=confirmation_current_values(client=client),
        created_at=now,
        expires_at=now + valid_for,
    )
    link = link_for(signing.Signer(salt=SIGNING_SALT).sign(token))
    transaction.on_commit(lambda: _link_email(confirmation, link))
    return confirmation, link


def _link_email(confirmation: ConfirmationRequest, link: str) -> None:
    # The client reads Dutch unless the firm's default language says otherwise; the page itself switches.
    with translation.override("nl"):
        context = {"client": confirmation.client, "link": link, "expires_at": confirmation.expires_at}
        send_mail(
            subject=_("Are your details still correct?"),
            message=render_to_string("enrichment/email/confirmation_link.txt", context),
            from_email=None,
            recipient_list=[confirmation.email],
        )


def confirmation_request_for_token(token: str, *, now=None) -> ConfirmationRequest:
    """The open request behind a link, or ConfirmationLinkInvalid saying why it cannot be answered."""
    try:
        raw = signing.Signer(salt=SIGNING_SALT).unsign(token)
    except signing.BadSignature as error:
        raise ConfirmationLinkInvalid("invalid") from error
    confirmation = ConfirmationRequest.objects.select_related("client").filter(token_hash=_token_hash(raw)).first()
    if confirmation is None:
        raise ConfirmationLinkInvalid("invalid")
    if confirmation.used_at is not None or confirmation.status != ConfirmationRequest.Status.SENT:
        raise ConfirmationLinkInvalid(
            "expired" if confirmation.status == ConfirmationRequest.Status.EXPIRED else "used"
        )
    if (now or timezone.now()) >= confirmation.expires_at:
        raise ConfirmationLinkInvalid("expired")
    return confirmation


@transaction.atomic
def confirmation_request_answer(*, token: str, answers: dict) -> ConfirmationRequest:
    """Store the client's answers; the link is used up. Two submits at once: exactly one wins."""
    now = timezone.now()
    confirmation = confirmation_request_for_token(token, now=now)
    claimed = ConfirmationRequest.objects.filter(
        pk=confirmation.pk, status=ConfirmationRequest.Status.SENT, used_at__isnull=True, expires_at__gt=now
    ).update(status=ConfirmationRequest.Status.ANSWERED, used_at=now, answers=answers)
    if not claimed:
        raise ConfirmationLinkInvalid("used")
    confirmation.refresh_from_db()
    return confirmation


@transaction.atomic
def confirmation_request_accept(*, confirmation: ConfirmationRequest, reviewed_by) -> ConfirmationRequest:
    """Write the answers to the unified view as source "client", then refresh the client's facts."""
    confirmation = ConfirmationRequest.objects.select_for_update().select_related("client").get(pk=confirmation.pk)
    if confirmation.status != ConfirmationRequest.Status.ANSWERED:
        raise ValidationError(_("Only answered requests can be accepted."))
    values, _by_hand = confirmation_values_to_record(confirmation)
    if values:
        client_answers_record(client=confirmation.client, values=values)
    confirmation.status = ConfirmationRequest.Status.ACCEPTED
    confirmation.reviewed_by, confirmation.reviewed_at = reviewed_by, timezone.now()
    confirmation.save(update_fields=["status", "reviewed_by", "reviewed_at"])

    from ..tasks import refresh_client_facts

    refresh_client_facts.delay_on_commit([confirmation.client_id])
    return confirmation


@transaction.atomic
def confirmation_request_reject(*, confirmation: ConfirmationRequest, reviewed_by) -> ConfirmationRequest:
    """Keep the answers on the request for the record; write nothing to the unified view."""
    updated = ConfirmationRequest.objects.filter(pk=confirmation.pk, status=ConfirmationRequest.Status.ANSWERED).update(
        status=ConfirmationRequest.Status.REJECTED, reviewed_by=reviewed_by, reviewed_at=timezone.now()
    )
    if not updated:
        raise ValidationError(_("Only answered requests can be rejected."))
    confirmation.refresh_from_db()
    return confirmation


def confirmation_requests_expire(*, now=None) -> int:
    """Mark links past their date as expired (they were refused anyway); returns how many."""
    return ConfirmationRequest.objects.filter(
        status=ConfirmationRequest.Status.SENT, expires_at__lte=now or timezone.now()
    ).update(status=ConfirmationRequest.Status.EXPIRED)
