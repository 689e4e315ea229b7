"""Reads of the unified client view, with access control built in.

Every read that serves a user goes through `clients_visible_to`: an advisor sees only the clients
of their own team, back office and admins see all. A client outside that set does not exist for
the user (404), so its existence is not revealed either.
"""

import base64
import json
import re
from dataclasses import dataclass
from datetime import date

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from accounts.selectors import user_sees_all_teams
from trust.privacy_bsn import bsn_search_q

from .models import (
    Agreement,
    Asset,
    Client,
    Complaint,
    ConsumerLoan,
    ContactMoment,
    ContactPreference,
    Employment,
    FamilyMember,
    Income,
    InsurancePolicy,
    LoanPart,
    MissedPayment,
    Mortgage,
    Pension,
    Property,
)
from .search import normalise_search_text

TIMELINE_LENGTH = 50

POSTCODE_RE = re.compile(r"^\s*([1-9][0-9]{3})\s?([a-zA-Z]{2})?\s*$")
DATE_RE = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s*$")
ISO_DATE_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def clients_visible_to(user) -> QuerySet[Client]:
    """The clients this user may see at all; current ones only (deleted in the source are kept apart)."""
    clients = Client.objects.filter(deleted_at__isnull=True)
    if user_sees_all_teams(user):
        return clients
    if not user.team_id:
        return clients.none()
    return clients.filter(team_id=user.team_id)


# The client's own rows that the 360° page shows, each one prefetch.
CLIENT_RELATIONS = [
    ("employments", Employment),
    ("incomes", Income),
    ("contact_preferences", ContactPreference),
    ("agreements", Agreement),
    ("complaints", Complaint),
    ("missed_payments", MissedPayment),
    ("properties", Property),
    ("policies", InsurancePolicy),
    ("pensions", Pension),
    ("assets", Asset),
    ("consumer_loans", ConsumerLoan),
]


def _current(lookup: str, model) -> Prefetch:
    """Prefetch only rows still current in their source; rows deleted there stay in the database."""
    return Prefetch(lookup, queryset=model.objects.filter(deleted_at__isnull=True))


def client_get_for_user(*, user, client_id: int) -> Client:
    """One client with everything the 360° page shows, in a fixed number of queries."""
    queryset = (
        clients_visible_to(user)
        .select_related("household", "advisor", "team", "facts")
        .prefetch_related(
            _current("household__family_members", FamilyMember),
            _current("household__clients", Client),
            *(_current(name, model) for name, model in CLIENT_RELATIONS),
            # Where the sources disagree (kept by the ingestion step, shown here).
            "data_conflicts",
            # What the framework raised (the alerts step), newest first by id.
            "alerts__alert_type",
            Prefetch(
                "contact_moments",
                queryset=ContactMoment.objects.filter(deleted_at__isnull=True)
                .select_related("staff_member")
                .order_by("-occurred_at")[:TIMELINE_LENGTH],
                to_attr="recent_contact_moments",
            ),
            Prefetch(
                "mortgages",
                queryset=Mortgage.objects.filter(deleted_at__isnull=True).prefetch_related(
                    _current("loan_parts", LoanPart)
                ),
            ),
        )
    )
    try:
        return queryset.get(pk=client_id)
    except Client.DoesNotExist as error:
        raise Http404("No such client") from error


# --- The client list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientFilters:
    query: str = ""
    advisor_id: int | None = None
    team_id: int | None = None
    segment: str = ""


def parse_search_query(query: str) -> Q:
    """One search box for name, postcode, birth date or email: the shape of the text says which."""
    query = query.strip()
    if not query:
        return Q()
    # Nine digits where the firm processes BSNs: by the blind index, never decrypting (trust/privacy_bsn.py).
    if (by_bsn := bsn_search_q(query)) is not None:
        return by_bsn
    if "@" in query:
        return Q(email__iexact=query)
    if match := POSTCODE_RE.match(query):
        digits, letters = match.groups()
        if letters:
            return Q(postcode=f"{digits} {letters.upper()}")
        return Q(postcode__startswith=digits)
    if match := DATE_RE.match(query):
        day, month, year = (int(part) for part in match.groups())
        return _birth_date_q(year, month, day)
    if match := ISO_DATE_RE.match(query):
        year, month, day = (int(part) for part in match.groups())
        return _birth_date_q(year, month, day)
    return Q(search_name__contains=normalise_search_text(query))


def _birth_date_q(year: int, month: int, day: int) -> Q:
    try:
        return Q(birth_date=date(year, month, day))
    except ValueError:
        return Q(pk__in=[])  # not a real date: nothing matches


def client_list(*, user, filters: ClientFilters) -> QuerySet[Client]:
    clients = clients_visible_to(user).filter(parse_search_query(filters.query))
    if filters.advisor_id:
        clients = clients.filter(advisor_id=filters.advisor_id)
    if filters.team_id:
        clients = clients.filter(team_id=filters.team_id)
    if filters.segment:
        clients = clients.filter(segment=filters.segment)
    return clients.select_related("advisor", "team")


@dataclass
class KeysetPage:
    items: list
    next_cursor: str | None
    previous_cursor: str | None


def _encode_cursor(client: Client) -> str:
    key = [client.last_name, client.first_name, client.pk]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str, int] | None:
    try:
        last_name, first_name, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(last_name), str(first_name), int(pk)
    except (ValueError, TypeError):
        return None


def _after(key: tuple[str, str, int]) -> Q:
    last_name, first_name, pk = key
    return (
        Q(last_name__gt=last_name)
        | Q(last_name=last_name, first_name__gt=first_name)
        | Q(last_name=last_name, first_name=first_name, pk__gt=pk)
    )


def _before(key: tuple[str, str, int]) -> Q:
    last_name, first_name, pk = key
    return (
        Q(last_name__lt=last_name)
        | Q(last_name=last_name, first_name__lt=first_name)
        | Q(last_name=last_name, first_name=first_name, pk__lt=pk)
    )


def client_page(clients: QuerySet[Client], *, after: str = "", before: str = "", size: int = 50) -> KeysetPage:
    """A page of clients in name order, by keyset: as quick for page 20,000 as for page 1.

    OFFSET pagination re-reads every skipped row and COUNT(*) reads them all; at a million clients
    both are slow, so the list pages by (last_name, first_name, id) and shows no total.
    """
    after_key = _decode_cursor(after) if after else None
    before_key = _decode_cursor(before) if before else None
    if before_key:
        rows = list(clients.filter(_before(before_key)).order_by("-last_name", "-first_name", "-pk")[: size + 1])
        has_more_before = len(rows) > size
        items = list(reversed(rows[:size]))
        return KeysetPage(
            items=items,
            next_cursor=_encode_cursor(items[-1]) if items else None,
            previous_cursor=_encode_cursor(items[0]) if items and has_more_before else None,
        )
    if after_key:
        clients = clients.filter(_after(after_key))
    rows = list(clients.order_by("last_name", "first_name", "pk")[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items=items,
        next_cursor=_encode_cursor(items[-1]) if len(rows) > size else None,
        previous_cursor=_encode_cursor(items[0]) if after_key and items else None,
    )
