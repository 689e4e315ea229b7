"""Who may open what: every URL of Steward and every API operation, as every persona.

`POLICY` is the single statement of access: for each route, what each persona gets. A route
without an entry fails `test_every_route_has_a_policy`, so a new page or endpoint must say who may
use it before it ships. The objects belong to two teams: Team Noord (`advisor`) and Team Zuid
(`advisor_other_team`). An advisor gets a 404 for the other team's client or alert, as if it did not
exist, and never sees it in a list, a search, a filter or a bulk action.

Django admin is one policy for all its routes (it is generated per registered model): only the
Admin role is staff, everyone else is sent to a login page.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client as BrowserClient
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertType
from clients.models import Client
from clients.tests.factories import ClientFactory
from clients.tests.test_api import openapi_schema
from enrichment.services.confirmations import confirmation_request_send
from ingestion.models import Source

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "advisor", "advisor_other_team", "back_office", "admin")
STAFF = PERSONAS[1:]
NOORD, ZUID = "noord", "zuid"
TEAM_OF = {"advisor": NOORD, "advisor_other_team": ZUID}

# Outcomes besides a status code.
LOGIN = "→ login page"
ADMIN_LOGIN = "→ admin login page"
ELSEWHERE = "→ elsewhere"  # a page that did (or refused, with a message) what was asked and moves on


# --- The world: two teams, each with a client, an alert and a confirmation request ----------------


@dataclass
class World:
    users: dict
    clients: dict[str, Client]
    alerts: dict[str, Alert]
    confirmations: dict
    tokens: dict[str, str]
    source: Source
    browsers: dict[str, BrowserClient] = field(default_factory=dict)

    def other(self, side: str) -> str:
        return ZUID if side == NOORD else NOORD


@pytest.fixture
def world(advisor, advisor_other_team, back_office, admin):
    fixed_rate = AlertType.objects.get_or_create(
        key="fixed_rate_ending", defaults={"name": "Fixed-interest period ends"}
    )[0]
    owners = {NOORD: advisor, ZUID: advisor_other_team}
    names = {NOORD: ("Sanne", "Noordermeer"), ZUID: ("Pieter", "Zuidervaart")}
    clients, alerts, confirmations, tokens = {}, {}, {}, {}
    for side, owner in owners.items():
        first_name, last_name = names[side]
        clients[side] = ClientFactory(
            team=owner.team,
            advisor=owner,
            first_name=first_name,
            last_name=last_name,
            email=f"{last_name.lower()}@example.nl",
            segment="premium",
            household=None,
        )
        alerts[side] = Alert.objects.create(
            client=clients[side],
            team=owner.team,
            alert_type=fixed_rate,
            assigned_to=owner,
            segment="within_14_days",
            message=f"{side}-alert-marker",
            priority=5,
            due_date=timezone.localdate() + timedelta(days=10),
        )
        AlertEvent.objects.create(alert=alerts[side], to_status="open", reason="Raised by the framework.")
        confirmations[side], link = confirmation_request_send(
            client=clients[side], requested_by=back_office, link_for=lambda token: f"/confirm/{token}/"
        )
        tokens[side] = link.split("/")[2]
    source = Source.objects.create(
        key="spreadsheet", name="Spreadsheet", kind=Source.Kind.FILE, default_team=advisor.team
    )
    users = {"advisor": advisor, "advisor_other_team": advisor_other_team, "back_office": back_office, "admin": admin}
    world = World(users, clients, alerts, confirmations, tokens, source)
    world.browsers["anonymous"] = BrowserClient()
    for persona, user in users.items():
        world.browsers[persona] = BrowserClient()
        world.browsers[persona].force_login(user)
    return world


# --- Probes and the policy ------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request, and what each persona gets from it."""

    url: Callable[[World], str]
    expected: dict[str, object]
    method: str = "get"
    data: Callable[[World], dict] | None = None
    as_json: bool = False  # the API takes JSON bodies; pages take forms


def url(name: str, *args) -> Callable[[World], str]:
    return lambda world: reverse(name, args=args)


def logged_in(outcome, *, anonymous=LOGIN) -> dict:
    return {"anonymous": anonymous, **dict.fromkeys(STAFF, outcome)}


def everyone(outcome) -> dict:
    return dict.fromkeys(PERSONAS, outcome)


def by_role(*, advisors, back_office, admin, anonymous=LOGIN) -> dict:
    return {
        "anonymous": anonymous,
        "advisor": advisors,
        "advisor_other_team": advisors,
        "back_office": back_office,
        "admin": admin,
    }


def team_scoped(
    name: str,
    of: Callable[[World, str], object],
    *,
    found,
    anonymous=LOGIN,
    method: str = "get",
    data: Callable[[World, str], dict] | None = None,
    as_json: bool = False,
) -> list[Probe]:
    """A route about one team's object, probed with each team's: its own team's advisor gets `found`,
    the other team's advisor a 404; back office and admins see every team."""
    probes = []
    for side in (NOORD, ZUID):
        expected = {
            "anonymous": anonymous,
            "back_office": found,
            "admin": found,
            **{persona: found if team == side else 404 for persona, team in TEAM_OF.items()},
        }
        probes.append(
            Probe(
                url=lambda world, side=side: reverse(name, args=[of(world, side).pk]),
                expected=expected,
                method=method,
                data=(lambda world, side=side: data(world, side)) if data else None,
                as_json=as_json,
            )
        )
    return probes


def client_of(world: World, side: str) -> Client:
    return world.clients[side]


def alert_of(world: World, side: str) -> Alert:
    return world.alerts[side]


def confirmation_of(world: World, side: str):
    return world.confirmations[side]


def snooze(world: World, side: str | None = None) -> dict:
    return {"status": "snoozed", "until": (timezone.localdate() + timedelta(days=30)).isoformat()}


MISSING = 999_999  # an id no object has: back office passes the permission check and gets a 404

SOURCES_READ = by_role(advisors=403, back_office=200, admin=200)
SOURCES_MISSING = by_role(advisors=403, back_office=404, admin=404)
CANVAS_READ = by_role(advisors=403, back_office=200, admin=200)
CANVAS_WRITE = by_role(advisors=403, back_office=ELSEWHERE, admin=ELSEWHERE)
CANVAS_API_READ = by_role(advisors=403, back_office=200, admin=200, anonymous=401)
CANVAS_API_INVALID = by_role(advisors=403, back_office=400, admin=400, anonymous=401)  # an empty body


# --- Follow-up's objects, made on first use: per team a sent message with a call task and a booking.
FOLLOWUP_READ = by_role(advisors=403, back_office=200, admin=200)
FOLLOWUP_MISSING = by_role(advisors=403, back_office=404, admin=404)
FOLLOWUP_WRITE = by_role(advisors=403, back_office=ELSEWHERE, admin=ELSEWHERE)


def followup_of(world: World) -> dict:
    """{"messages", "calls", "bookings", "tokens"} per side, and a playbook; made once per world."""
    if not hasattr(world, "followup"):
        from followup.links import link_token
        from followup.models import Booking, CallTask, Message, MessageAlert, Playbook

        made = {"messages": {}, "calls": {}, "bookings": {}, "tokens": {}}
        made["playbook"] = Playbook.objects.create(name="Urgent", quadrant="urgent_routine")
        for side, alert in world.alerts.items():
            message = Message.objects.create(
                client=alert.client,
                team=alert.team,
                channel="phone",
                purpose="service",
                language="en",
                status="sent",
                call_to_action="self_service",
                self_service_flow="fixed_rate_period",
                idempotency_key=hashlib.sha256(side.encode()).hexdigest(),
            )
            MessageAlert.objects.create(message=message, alert=alert, channel="phone")
            made["messages"][side] = message
            made["tokens"][side] = link_token(message)
            made["calls"][side] = CallTask.objects.create(message=message, team=alert.team)
            start = timezone.now() + timedelta(days=3)
            made["bookings"][side] = Booking.objects.create(
                client=alert.client,
                advisor=alert.assigned_to,
                team=alert.team,
                alert=alert,
                message=message,
                starts_at=start,
                ends_at=start + timedelta(hours=1),
            )
        world.followup = made
    return world.followup


def call_of(world: World, side: str):
    return followup_of(world)["calls"][side]


def booking_of(world: World, side: str):
    return followup_of(world)["bookings"][side]


def public(name: str, *extra) -> Callable[[World], str]:
    """A client's page through the Noord message's signed link (extra: "alert" for its alert's id)."""

    def build(world: World) -> str:
        made = followup_of(world)
        args = [made["tokens"][NOORD], *(world.alerts[NOORD].pk for _ in extra)]
        return reverse(name, args=args)

    return build


def public_tampered(name: str, *extra) -> Callable[[World], str]:
    return lambda world: reverse(name, args=[public_token_tampered(world), *(world.alerts[NOORD].pk for _ in extra)])


def public_token_tampered(world: World) -> str:
    token = followup_of(world)["tokens"][NOORD]
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


POLICY: dict[str, list[Probe]] = {
    # --- Foundation
    # Advisors land on their work queue; the other roles on the page of their areas.
    "home": [Probe(url("home"), by_role(advisors=ELSEWHERE, back_office=200, admin=200))],
    "healthz": [Probe(url("healthz"), everyone(200))],
    "favicon": [Probe(url("favicon"), everyone(ELSEWHERE))],  # to the static icon, with or without a login
    "login": [Probe(url("login"), {"anonymous": 200, **dict.fromkeys(STAFF, ELSEWHERE)})],
    # Logging out is a POST (a GET, e.g. a prefetch, must not log anyone out).
    "logout": [Probe(url("logout"), logged_in(405))],
    # The second factor: everyone may set up an authenticator app; the code page sends a user without
    # one on (tests/test_mfa.py covers the flow itself).
    "accounts:mfa_setup": [Probe(url("accounts:mfa_setup"), logged_in(200))],
    "accounts:mfa_verify": [Probe(url("accounts:mfa_verify"), logged_in(ELSEWHERE))],
    "set_language": [
        Probe(url("set_language"), everyone(ELSEWHERE), method="post", data=lambda w: {"language": "en", "next": "/"})
    ],
    # --- Clients
    "clients:list": [Probe(url("clients:list"), logged_in(200))],
    "clients:detail": team_scoped("clients:detail", client_of, found=200),
    # --- Alerts (pages)
    "alerts:dashboard": [Probe(url("alerts:dashboard"), logged_in(200))],
    "alerts:bulk": [
        Probe(url("alerts:bulk"), logged_in(405)),
        Probe(
            url("alerts:bulk"),
            logged_in(ELSEWHERE),
            method="post",
            data=lambda w: {"action": "start", "alert_ids": [w.alerts[NOORD].pk, w.alerts[ZUID].pk]},
        ),
    ],
    "alerts:detail": team_scoped("alerts:detail", alert_of, found=200),
    # --- Sources (ingestion): back office and admins; sources belong to the firm, not to a team.
    "ingestion:sources": [Probe(url("ingestion:sources"), SOURCES_READ)],
    "ingestion:review": [Probe(url("ingestion:review"), SOURCES_READ)],
    "ingestion:match_decide": [Probe(url("ingestion:match_decide", MISSING), SOURCES_MISSING, method="post")],
    "ingestion:quarantine_retry": [Probe(url("ingestion:quarantine_retry", MISSING), SOURCES_MISSING, method="post")],
    "ingestion:quarantine_dismiss": [
        Probe(url("ingestion:quarantine_dismiss", MISSING), SOURCES_MISSING, method="post")
    ],
    # HubSpot calls in without a login; the signature decides (an unknown source: 404).
    "ingestion:hubspot_webhook": [
        Probe(url("ingestion:hubspot_webhook", "spreadsheet"), everyone(404), method="post"),
        Probe(url("ingestion:hubspot_webhook", "spreadsheet"), everyone(405)),
    ],
    "ingestion:import_map": [Probe(url("ingestion:import_map", MISSING), SOURCES_MISSING)],
    "ingestion:import_preview": [Probe(url("ingestion:import_preview", MISSING), SOURCES_MISSING)],
    "ingestion:import_apply": [Probe(url("ingestion:import_apply", MISSING), SOURCES_MISSING, method="post")],
    "ingestion:import_cancel": [Probe(url("ingestion:import_cancel", MISSING), SOURCES_MISSING, method="post")],
    "ingestion:import_upload": [Probe(url("ingestion:import_upload", "spreadsheet"), SOURCES_READ)],
    "ingestion:source": [Probe(url("ingestion:source", "spreadsheet"), SOURCES_READ)],
    "ingestion:progress": [Probe(url("ingestion:progress", "spreadsheet"), SOURCES_READ)],
    "ingestion:sync_now": [Probe(url("ingestion:sync_now", "no-such-source"), SOURCES_MISSING, method="post")],
    # --- Confirmation requests (enrichment): back office and admins send and review them.
    "enrichment:confirmations": [Probe(url("enrichment:confirmations"), SOURCES_READ)],
    "enrichment:confirmation_detail": [
        Probe(
            lambda w, side=side: reverse("enrichment:confirmation_detail", args=[w.confirmations[side].pk]),
            SOURCES_READ,
        )
        for side in (NOORD, ZUID)
    ],
    "enrichment:confirmation_review": [
        Probe(
            lambda w: reverse("enrichment:confirmation_review", args=[w.confirmations[NOORD].pk]),
            by_role(advisors=403, back_office=ELSEWHERE, admin=ELSEWHERE),
            method="post",
        )
    ],
    "enrichment:confirmation_send": [
        Probe(
            lambda w, side=side: reverse("enrichment:confirmation_send", args=[w.clients[side].pk]),
            by_role(advisors=403, back_office=ELSEWHERE, admin=ELSEWHERE),
            method="post",
        )
        for side in (NOORD, ZUID)
    ],
    # The client's own page: no login; the secret link is the key (a wrong one is gone: 410).
    "confirm:answer": [
        Probe(lambda w: reverse("confirm:answer", args=[w.tokens[NOORD]]), everyone(200)),
        Probe(url("confirm:answer", "not-a-real-link"), everyone(410)),
    ],
    # --- The canvas (another developer's app): back office and admins; it places alert types, not clients.
    "canvas:board": [Probe(url("canvas:board"), CANVAS_READ)],
    "canvas:history": [Probe(url("canvas:history"), CANVAS_READ)],
    "canvas:compare": [Probe(url("canvas:compare"), CANVAS_READ)],
    "canvas:export-svg": [Probe(url("canvas:export-svg"), CANVAS_READ)],
    "canvas:export-pdf": [Probe(url("canvas:export-pdf"), CANVAS_READ)],
    # Writes probed with an empty form: refused by role, or sent back with a message.
    "canvas:place": [Probe(url("canvas:place"), CANVAS_WRITE, method="post")],
    "canvas:undo": [Probe(url("canvas:undo"), CANVAS_WRITE, method="post")],
    "canvas:granulation": [Probe(url("canvas:granulation"), CANVAS_WRITE, method="post")],
    "canvas:api-cards": [Probe(url("canvas:api-cards"), CANVAS_API_READ)],
    "canvas:api-history": [Probe(url("canvas:api-history"), CANVAS_API_READ)],
    "canvas:api-place": [Probe(url("canvas:api-place"), CANVAS_API_INVALID, method="post", as_json=True)],
    "canvas:api-undo": [Probe(url("canvas:api-undo"), CANVAS_API_INVALID, method="post", as_json=True)],
    "canvas:api-granulation": [Probe(url("canvas:api-granulation"), CANVAS_API_INVALID, method="post", as_json=True)],
    # --- Insights: every staff role, each seeing only its own team's figures (insights/tests/test_pages.py);
    # an unknown table is a 404 for anyone allowed in.
    "insights:index": [Probe(url("insights:index"), logged_in(200))],
    "insights:retention": [Probe(url("insights:retention"), logged_in(200))],
    "insights:export": [
        Probe(url("insights:export", "metrics"), logged_in(200)),
        Probe(url("insights:export", "at-risk"), logged_in(200)),
        Probe(url("insights:export", "no-such-table"), logged_in(404)),
    ],
    # Recomputing the figures now spans every team: back office and admins only.
    "insights:refresh": [
        Probe(url("insights:refresh"), by_role(advisors=403, back_office=ELSEWHERE, admin=ELSEWHERE), method="post")
    ],
    # --- Follow-up: back office and admins manage playbooks, templates and dispatch; advisors work their
    # own team's call queue and agenda (another team's call or booking: 404).
    "followup:playbooks": [Probe(url("followup:playbooks"), FOLLOWUP_READ)],
    "followup:playbook_new": [Probe(url("followup:playbook_new"), FOLLOWUP_READ)],
    "followup:playbook_edit": [
        Probe(lambda w: reverse("followup:playbook_edit", args=[followup_of(w)["playbook"].pk]), FOLLOWUP_READ),
        Probe(url("followup:playbook_edit", MISSING), FOLLOWUP_MISSING),
    ],
    "followup:playbook_delete": [Probe(url("followup:playbook_delete", MISSING), FOLLOWUP_MISSING, method="post")],
    "followup:playbook_move": [Probe(url("followup:playbook_move", MISSING), FOLLOWUP_MISSING, method="post")],
    "followup:dispatch_now": [
        Probe(url("followup:dispatch_now"), FOLLOWUP_WRITE, method="post"),
        Probe(url("followup:dispatch_now"), logged_in(405)),
    ],
    "followup:templates": [Probe(url("followup:templates"), FOLLOWUP_READ)],
    "followup:template_new": [Probe(url("followup:template_new"), FOLLOWUP_READ)],
    "followup:template_edit": [Probe(url("followup:template_edit", MISSING), FOLLOWUP_MISSING)],
    "followup:outbox": [Probe(url("followup:outbox"), FOLLOWUP_READ)],
    "followup:outbox_email": [Probe(url("followup:outbox_email", "nosuchemail"), FOLLOWUP_MISSING)],
    "followup:calls": [Probe(url("followup:calls"), logged_in(200))],
    "followup:call_done": team_scoped(
        "followup:call_done", call_of, found=ELSEWHERE, method="post", data=lambda w, side: {"outcome": "no_answer"}
    ),
    "followup:agenda": [Probe(url("followup:agenda"), logged_in(200))],
    "followup:booking": team_scoped("followup:booking", booking_of, found=200),
    # Providers post delivery reports without a login; the signature decides (an unknown provider: 404;
    # followup/tests/test_delivery_reports.py covers signatures).
    "followup:delivery_webhook": [
        Probe(url("followup:delivery_webhook", "nosuchprovider"), everyone(404), method="post"),
        Probe(url("followup:delivery_webhook", "nosuchprovider"), everyone(405)),
    ],
    # The client's pages: no login; the signed link is the key (tampered: 400; expired: 410, see
    # followup/tests/test_client_pages.py). The open pixel answers a GIF whatever the link.
    "followup_public:landing": [
        Probe(public("followup_public:landing"), everyone(200)),
        Probe(public_tampered("followup_public:landing"), everyone(400)),
    ],
    "followup_public:self_service": [
        Probe(public("followup_public:self_service", "alert"), everyone(200)),
        Probe(public_tampered("followup_public:self_service", "alert"), everyone(400)),
    ],
    "followup_public:book": [
        Probe(public("followup_public:book"), everyone(200)),
        Probe(public_tampered("followup_public:book"), everyone(400)),
    ],
    "followup_public:pixel": [Probe(public("followup_public:pixel"), everyone(200))],
    # --- The API: a 401 for anonymous callers, never a redirect; other teams' objects are 404.
    "api:schema": [Probe(url("api:schema"), logged_in(200, anonymous=401))],
    "api:docs": [Probe(url("api:docs"), logged_in(200))],  # a page for people: log in first
    "api:client-list": [Probe(url("api:client-list"), logged_in(200, anonymous=401))],
    "api:client-detail": team_scoped("api:client-detail", client_of, found=200, anonymous=401),
    "api:alert-list": [Probe(url("api:alert-list"), logged_in(200, anonymous=401))],
    "api:alert-detail": team_scoped("api:alert-detail", alert_of, found=200, anonymous=401),
    "api:alert-status": [
        *team_scoped("api:alert-status", alert_of, found=200, anonymous=401, method="post", data=snooze, as_json=True),
        # A method the endpoint lacks is a 405 whoever's the alert (and whether it exists): it tells nothing.
        Probe(lambda w: reverse("api:alert-status", args=[w.alerts[NOORD].pk]), logged_in(405, anonymous=401)),
    ],
    "api:alert-assign": team_scoped(
        "api:alert-assign",
        alert_of,
        found=200,
        anonymous=401,
        method="post",
        data=lambda w, side: {"assignee": w.alerts[side].assigned_to_id},
        as_json=True,
    ),
    "api:alert-bulk": [
        Probe(
            url("api:alert-bulk"),
            logged_in(200, anonymous=401),
            method="post",
            data=lambda w: {"ids": [w.alerts[NOORD].pk, w.alerts[ZUID].pk], "action": "resolve"},
            as_json=True,
        )
    ],
    "api:not-found": [Probe(lambda w: "/api/no-such-endpoint/", logged_in(404, anonymous=401))],
    # --- Privacy: the register of processing for admins; a client's data export (access request)
    # for the advisors of the client's team and admins, not back office.
    "privacy:register": [Probe(url("privacy:register"), by_role(advisors=403, back_office=403, admin=200))],
    "privacy:client_export": [
        Probe(
            url=lambda world, side=side, file_format=file_format: reverse(
                "privacy:client_export", args=[world.clients[side].pk, file_format]
            ),
            expected={
                "anonymous": LOGIN,
                "back_office": 403,
                "admin": 200,
                **{persona: 200 if team == side else 404 for persona, team in TEAM_OF.items()},
            },
        )
        for side in (NOORD, ZUID)
        for file_format in ("json", "pdf")
    ],
    # --- Trust: a client's change history (whoever may see the client), and its duty-of-care file
    # for the supervisor (the advisors of the client's team and admins, not back office).
    "trust:client_history": team_scoped("trust:client_history", client_of, found=200),
    "trust:duty_of_care": [
        Probe(
            url=lambda world, side=side, file_format=file_format: reverse(
                "trust:duty_of_care", args=[world.clients[side].pk, file_format]
            ),
            expected={
                "anonymous": LOGIN,
                "back_office": 403,
                "admin": 200,
                **{persona: 200 if team == side else 404 for persona, team in TEAM_OF.items()},
            },
        )
        for side in (NOORD, ZUID)
        for file_format in ("json", "pdf")
    ],
}

ADMIN_NAMESPACE = "admin"


# --- Walking the URL patterns ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern itself for an unnamed route
    parts: tuple  # the pattern objects from the root to the route
    callback: Callable

    @property
    def pattern(self) -> str:
        return "".join(str(part) for part in self.parts)


def all_routes() -> list[Route]:
    def walk(patterns, parts=(), namespace=None):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = entry.namespace and (f"{namespace}:{entry.namespace}" if namespace else entry.namespace)
                yield from walk(entry.url_patterns, (*parts, entry.pattern), inner or namespace)
            elif isinstance(entry, URLPattern):
                route_parts = (*parts, entry.pattern)
                if entry.name:
                    name = f"{namespace}:{entry.name}" if namespace else entry.name
                else:
                    name = "".join(str(part) for part in route_parts)
                yield Route(name=name, parts=route_parts, callback=entry.callback)

    return list(walk(get_resolver().url_patterns))


SAMPLE_ARGUMENTS = {"app_label": "clients", "url": "no-such-page/"}


def sample_path(route: Route, world: World) -> str:
    """A concrete path that reaches `route`, built from its pattern (used for the admin's many routes)."""
    path = ""
    for part in route.parts:
        text = str(part)
        if isinstance(part, RoutePattern):
            text = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: _sample(m.group(2), world), text)
        elif isinstance(part, RegexPattern):
            text = text.lstrip("^").rstrip("$")
            text = re.sub(r"\(\?P<app_label>([^)]*)\)", "clients", text)
            text = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: _sample(m.group(1), world), text)
            # Unnamed groups (the audit trail's /<object id>/history/<version id>/): an object's id.
            text = text.replace("([^/]+)", _sample("object_id", world))
            text = text.replace(".*", "no-such-page/")
        path += text
    return "/" + path


def _sample(argument: str, world: World) -> str:
    if argument == "content_type_id":
        return str(ContentType.objects.get_for_model(Client).pk)
    if argument == "object_id":
        return str(world.clients[NOORD].pk)
    return SAMPLE_ARGUMENTS.get(argument, str(MISSING))


def outcome_of(response):
    if response.status_code in (301, 302, 303, 307, 308):
        location = urlsplit(response["Location"]).path
        if location == reverse("login"):
            return LOGIN
        if location == reverse("admin:login"):
            return ADMIN_LOGIN
        return ELSEWHERE
    return response.status_code


def send(world: World, persona: str, probe: Probe):
    browser = world.browsers[persona]
    target = probe.url(world)
    data = probe.data(world) if probe.data else {}
    if probe.as_json:
        return getattr(browser, probe.method)(target, json.dumps(data), content_type="application/json")
    return getattr(browser, probe.method)(target, data)


# --- Every route has a policy, and every API operation a probe ------------------------------------


def test_every_route_has_a_policy():
    routes = all_routes()
    names = {route.name for route in routes}
    without_policy = sorted(
        route.name
        for route in routes
        if route.name not in POLICY
        and not route.name.startswith(f"{ADMIN_NAMESPACE}:")
        and not route.pattern.startswith("admin/")
    )
    assert not without_policy, f"Routes without an access policy in {__name__}.POLICY: {without_policy}"
    stale = sorted(set(POLICY) - names)
    assert not stale, f"Policy entries for routes that no longer exist: {stale}"


def test_every_probe_reaches_the_route_it_is_the_policy_of(world):
    for name, probes in POLICY.items():
        for probe in probes:
            assert resolve(urlsplit(probe.url(world)).path).view_name == name, name


def test_every_api_operation_of_the_schema_is_probed():
    probed = {(name, probe.method) for name, probes in POLICY.items() for probe in probes}
    for template, operations in openapi_schema()["paths"].items():
        name = resolve(re.sub(r"\{[^}]+\}", "1", template)).view_name
        for method in operations:
            assert (name, method) in probed, f"{method.upper()} {template} ({name}) has no probe in the policy"


def test_api_endpoints_answer_for_themselves_instead_of_redirecting_to_the_login_page():
    for route in all_routes():
        if route.pattern.startswith("api/") and route.name != "api:docs":
            # LoginRequiredMiddleware skips views marked so; DRF marks all its views.
            assert getattr(route.callback, "login_required", True) is False, route.name


# --- Each persona gets what the policy says -------------------------------------------------------


@pytest.mark.parametrize("route_name", sorted(POLICY))
def test_each_persona_gets_what_the_policy_says(world, route_name):
    wrong = []
    for probe in POLICY[route_name]:
        for persona in PERSONAS:
            response = send(world, persona, probe)
            got = outcome_of(response)
            if got != probe.expected[persona]:
                wrong.append(
                    f"{probe.method.upper()} {probe.url(world)} as {persona}: {got}, not {probe.expected[persona]}"
                )
    assert not wrong, "\n".join(wrong)


def _admin_paths(world: World) -> list[tuple[Route, str]]:
    paths = []
    for route in all_routes():
        if route.pattern.startswith("admin/"):
            path = sample_path(route, world)
            assert resolve(path).func == route.callback, f"{path} does not reach {route.name}"
            paths.append((route, path))
    return paths


def test_the_admin_sends_everyone_but_the_admin_role_to_a_login_page(world):
    wrong = []
    for route, path in _admin_paths(world):
        for persona in ("anonymous", "advisor", "advisor_other_team", "back_office"):
            got = outcome_of(world.browsers[persona].get(path))
            if route.name == "admin:login":
                ok = got == 200  # the login form (for a user who is not staff: with "not authorised")
            elif route.name == "admin:logout":
                ok = got in (ADMIN_LOGIN, ELSEWHERE)  # to the admin's index, which sends them to log in
            else:
                ok = got in (LOGIN, ADMIN_LOGIN)
            if not ok:
                wrong.append(f"GET {path} ({route.name}) as {persona}: {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_the_admin_role_reaches_every_admin_page(world):
    wrong = []
    for route, path in _admin_paths(world):
        got = outcome_of(world.browsers["admin"].get(path))
        if got in (LOGIN, ADMIN_LOGIN) or (isinstance(got, int) and got >= 500):
            wrong.append(f"GET {path} ({route.name}) as admin: {got}")
    assert not wrong, "\n".join(wrong)


# --- Never in a list, a search, a filter or a bulk action of another team -------------------------


def _queries(world: World, other: str) -> dict[str, list[dict]]:
    """For each list, the queries an advisor might try to reach the other team's objects."""
    client, alert = world.clients[other], world.alerts[other]
    as_client_list = [
        {},
        {"q": client.last_name},
        {"q": client.email},
        {"q": client.postcode},
        {"q": client.birth_date.isoformat()},
        {"advisor": client.advisor_id},
        {"team": client.team_id},
        {"segment": "premium"},
    ]
    as_alert_list = [
        {},
        {"scope": "team"},
        {"scope": "all"},
        {"team": alert.team_id},
        {"status": "live"},
        {"alert_type": "fixed_rate_ending"},
        {"segment": "within_14_days"},
    ]
    return {
        "clients:list": as_client_list,
        "api:client-list": as_client_list,
        "alerts:dashboard": as_alert_list,
        "api:alert-list": [*as_alert_list, {"client": client.pk}, {"status": "any"}, {"due_within_days": 30}],
    }


@pytest.mark.parametrize("persona", ["advisor", "advisor_other_team"])
@pytest.mark.parametrize("list_name", ["clients:list", "api:client-list", "alerts:dashboard", "api:alert-list"])
def test_another_teams_clients_and_alerts_never_show_in_a_list_search_or_filter(world, persona, list_name):
    own, other = TEAM_OF[persona], world.other(TEAM_OF[persona])
    browser, client, alert = world.browsers[persona], world.clients[other], world.alerts[other]
    unfiltered = browser.get(reverse(list_name))
    # The list shows the advisor's own team (so the test is not vacuous), and in the shape looked for below.
    if list_name.startswith("api:"):
        own_id = world.clients[own].pk if "client" in list_name else world.alerts[own].pk
        assert own_id in {row["id"] for row in unfiltered.json()["results"]}
    else:
        assert f'"{reverse("clients:detail", args=[world.clients[own].pk])}"' in unfiltered.content.decode()
    for query in _queries(world, other)[list_name]:
        response = browser.get(f"{reverse(list_name)}?{urlencode(query)}")
        assert response.status_code == 200, (query, response.status_code)
        text = response.content.decode()
        # The other team's client and alert by their links, the alert's message, the client's name (unless
        # the page only echoes the search box), and the other team and its advisor by name.
        marks = [
            f'"{reverse("clients:detail", args=[client.pk])}"',
            f'"{reverse("alerts:detail", args=[alert.pk])}"',
            alert.message,
            *([] if "q" in query else [client.last_name]),
            client.team.name,
            client.advisor.get_full_name(),
        ]
        leaked = [mark for mark in marks if mark in text]
        assert not leaked, f"{list_name}?{urlencode(query)} as {persona} shows {leaked}"
        if list_name.startswith("api:"):
            other_ids = {world.clients[other].pk} if "client" in list_name else {world.alerts[other].pk}
            assert not other_ids & {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("persona", ["advisor", "advisor_other_team"])
def test_a_bulk_action_never_touches_another_teams_alerts(world, persona):
    own, other = TEAM_OF[persona], world.other(TEAM_OF[persona])
    browser, ids = world.browsers[persona], [world.alerts[own].pk, world.alerts[other].pk]
    browser.post(reverse("alerts:bulk"), {"action": "start", "alert_ids": ids})
    answer = browser.post(
        reverse("api:alert-bulk"),
        json.dumps({"ids": ids, "action": "dismiss", "reason": "Not relevant."}),
        content_type="application/json",
    ).json()
    assert answer["not_found"] == [world.alerts[other].pk]
    assert answer["found"] == [world.alerts[own].pk]
    untouched = Alert.objects.get(pk=world.alerts[other].pk)
    assert (untouched.status, untouched.events.count()) == ("open", 1)
    assert Alert.objects.get(pk=world.alerts[own].pk).status == "dismissed"


@pytest.mark.parametrize("persona", ["advisor", "advisor_other_team"])
def test_the_other_teams_objects_cannot_be_read_or_changed_through_the_api(world, persona):
    other = world.other(TEAM_OF[persona])
    browser, alert, client = world.browsers[persona], world.alerts[other], world.clients[other]
    attempts = [
        browser.get(reverse("api:client-detail", args=[client.pk])),
        browser.get(reverse("api:alert-detail", args=[alert.pk])),
        browser.post(
            reverse("api:alert-status", args=[alert.pk]), json.dumps({"status": "resolved"}), "application/json"
        ),
        browser.post(reverse("api:alert-assign", args=[alert.pk]), json.dumps({"assignee": None}), "application/json"),
    ]
    for response in attempts:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert client.last_name not in response.content.decode()
    alert.refresh_from_db()
    assert (alert.status, alert.assigned_to_id, alert.events.count()) == ("open", client.advisor_id, 1)
