"""Generated requests against every operation of the OpenAPI schema (schemathesis), as two advisors of
different teams, with the other team's object ids slipped into paths, filters and bodies.

For every request: no server error, a response that matches the schema (status code, content type,
body), and nothing of the other team in it; afterwards the other team's client and alert are as
they were. The requests go in-process to Django's WSGI application, inside the test's transaction.
`make test` tries a bounded number per operation; `make soak` ten times more (tests/soak.py).
"""

import json
import random
from contextlib import contextmanager

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from clients.tests.test_api import openapi_schema
from tests import test_access_matrix
from tests.soak import examples
from tests.test_access_matrix import NOORD, TEAM_OF, ZUID

world = test_access_matrix.world  # the matrix's fixture: two teams, each with a client and an alert

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

EXAMPLES_PER_OPERATION = examples(25, 400)
# schemathesis's default checks (no server error; status code, content type, headers and body as the
# schema says; ...) except one: "a schema-valid request is accepted". A request can be valid by the
# schema and still wrong: it assigns an alert to an advisor of another team, or to an id that does
# not exist. A 400 is the right answer there (and the injected ids make sure that case is tried).
EXCLUDED_CHECKS = [positive_data_acceptance]
TEAM_SCOPED_IDS = {"alert_id": "alerts", "client_id": "clients"}
# Query parameters that name an object: the other team's id goes in them too.
ID_FILTERS = {"client": "clients", "team": "teams", "advisor": "advisors"}


@contextmanager
def in_test_transaction():
    """Django's WSGI handler closes the database connection after a request when it is inside a
    transaction, which would end the test's; the test client avoids that the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def ids_of(world, side: str) -> dict[str, int]:
    client = world.clients[side]
    return {
        "alerts": world.alerts[side].pk,
        "clients": client.pk,
        "teams": client.team_id,
        "advisors": client.advisor_id,
    }


def fingerprint(world, side: str) -> tuple:
    alert, client = world.alerts[side], world.clients[side]
    alert.refresh_from_db()
    client.refresh_from_db()
    return (alert.status, alert.assigned_to_id, alert.priority, alert.events.count(), client.updated_at)


def marks_of(world, side: str) -> list[str]:
    """Text that only the other team's objects carry."""
    client = world.clients[side]
    return [client.last_name, client.email, world.alerts[side].message, client.team.name]


def inject(case, rng: random.Random, own: dict, other: dict) -> None:
    """Put the other team's (or the own team's) ids where the request names objects."""
    choice = rng.choice([other, other, own, None])
    if choice is None:
        return  # as generated
    for name in list(case.path_parameters or {}):
        if name in TEAM_SCOPED_IDS:
            case.path_parameters[name] = choice[TEAM_SCOPED_IDS[name]]
    for name in list(case.query or {}):
        if name in ID_FILTERS:
            case.query[name] = choice[ID_FILTERS[name]]
    if isinstance(case.body, dict):
        if "ids" in case.body:
            case.body["ids"] = [own["alerts"], other["alerts"]]
        if "assignee" in case.body:
            case.body["assignee"] = rng.choice([other["advisors"], own["advisors"]])


def fuzz(operation, *, app, headers: dict, own: dict, other: dict, other_marks: list[str], tried: dict) -> None:
    """Send generated requests to one operation and check each answer."""
    label = f"{operation.method.upper()} {operation.path}"
    other_id = other["alerts"] if "alerts" in operation.path else other["clients"]

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    )
    @given(case=operation.as_strategy(), seed=st.integers(0, 2**32 - 1))
    def request_is_sound(case, seed):
        inject(case, random.Random(seed), own, other)
        response = case.call(app=app, headers=headers)
        case.validate_response(
            response,
            headers=headers,
            excluded_checks=EXCLUDED_CHECKS,
            transport_kwargs={"app": app, "headers": headers},
        )
        text = response.text
        leaked = [mark for mark in other_marks if mark in text]
        assert not leaked, f"{label} shows the other team's {leaked}: {case.path_parameters} {case.query}"
        if response.status_code == 200 and "application/json" in response.headers.get("Content-Type", ""):
            body = json.loads(text)
            rows = body.get("results", []) if isinstance(body, dict) else []
            assert other_id not in {row.get("id") for row in rows if isinstance(row, dict)}, label
        tried[label] = tried.get(label, 0) + 1

    with in_test_transaction():
        request_is_sound()


@pytest.mark.parametrize("persona", ["advisor", "advisor_other_team"])
def test_generated_api_requests_keep_to_the_schema_and_to_the_advisors_team(world, persona):
    own_side = TEAM_OF[persona]
    other_side = ZUID if own_side == NOORD else NOORD
    own, other = ids_of(world, own_side), ids_of(world, other_side)
    token = Token.objects.create(user=world.users[persona]).key
    headers = {"Authorization": f"Token {token}"}
    other_marks = marks_of(world, other_side)
    before = fingerprint(world, other_side)

    app = get_wsgi_application()
    with in_test_transaction():  # the schema as /api/schema/ serves it to this advisor
        schema = schemathesis.openapi.from_wsgi("/api/schema/", app, headers=headers)
    assert schema.raw_schema["paths"].keys() == openapi_schema()["paths"].keys()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the schema loaded, not an empty walk
    tried: dict[str, int] = {}
    for operation in operations:
        fuzz(operation, app=app, headers=headers, own=own, other=other, other_marks=other_marks, tried=tried)

    assert fingerprint(world, other_side) == before, "the other team's alert or client changed"
    assert sum(tried.values()) >= len(operations), tried
    print(f"{persona}: {sum(tried.values())} generated requests over {len(tried)} operations")  # for the README
