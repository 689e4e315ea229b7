"""The client API as its users meet it: the contract of the OpenAPI schema, logging in, errors, pages.

The helpers at the top (the generated schema, `assert_matches_schema`) serve the alert API's tests
and the access matrix too.
"""

import functools
import json
import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from jsonschema import Draft202012Validator
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled
from rest_framework.test import APIClient

from accounts.models import User
from clients.models import ClientPageView, Segment
from config.api_errors import api_exception_handler

from .factories import ClientFactory, full_client_file

pytestmark = pytest.mark.django_db

# --- The contract: every response the tests get must be one the schema documents ------------------


@functools.cache
def openapi_schema() -> dict:
    """The schema as drf-spectacular generates it (what /api/schema/ serves), as plain JSON."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema))


def _closed(node):
    """The schema with every object closed: a field the schema does not document fails the contract."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _closed(value) for key, value in node.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


@functools.cache
def _components() -> dict:
    return _closed(openapi_schema()["components"])


def schema_operation(method: str, path: str) -> tuple[str, dict]:
    """The documented operation answering `method path`: its path template and its description."""
    for template, operations in openapi_schema()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return template, operations[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the OpenAPI schema")


def assert_matches_schema(response) -> dict:
    """The response's status is documented for its operation, and its JSON body is what the schema says."""
    method, path = response.request["REQUEST_METHOD"], response.request["PATH_INFO"]
    template, operation = schema_operation(method, path)
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method} {template} answered {response.status_code}, which its schema does not document"
    assert response["Content-Type"].startswith("application/json")
    body_schema = documented["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**_closed(body_schema), "components": _components()}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    body = response.json()
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(body)]
    assert not errors, f"{method} {template} {response.status_code} breaks the contract:\n" + "\n".join(errors)
    return body


def assert_error(response, status: int, code: str) -> dict:
    """An error in the one shape: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def api_client_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


# --- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def noord(advisor):
    return full_client_file(team=advisor.team, advisor=advisor, first_name="Sanne", last_name="Jansen")


@pytest.fixture
def zuid(advisor_other_team):
    return full_client_file(team=advisor_other_team.team, first_name="Pieter", last_name="Bakker")


def result_ids(body) -> list[int]:
    return [row["id"] for row in body["results"]]


# --- The schema and the docs ----------------------------------------------------------------------


def test_the_schema_documents_every_operation_with_its_errors():
    paths = openapi_schema()["paths"]
    assert set(paths) >= {
        "/api/clients/",
        "/api/clients/{client_id}/",
        "/api/alerts/",
        "/api/alerts/bulk/",
        "/api/alerts/{alert_id}/",
        "/api/alerts/{alert_id}/status/",
        "/api/alerts/{alert_id}/assign/",
    }
    for operations in paths.values():
        for operation in operations.values():
            for code in ("401", "403"):
                assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_the_schema_is_served_to_a_logged_in_user_only(advisor):
    anonymous = APIClient().get("/api/schema/")
    assert_error(anonymous, 401, "not_authenticated")
    response = api_client_for(advisor).get("/api/schema/")
    assert response.status_code == 200
    assert json.loads(response.content)["info"]["title"] == "Steward API"


def test_the_docs_page_sends_a_visitor_to_log_in_and_serves_swagger_ui_from_our_own_static_files(client, advisor):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    client.force_login(advisor)
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html
    # Swagger UI's start-up script is a file of its own (the CSP refuses inline scripts); it loads the schema.
    assert '<script src="/api/docs/?script="></script>' in html
    assert "/api/schema/" in client.get("/api/docs/?script=").content.decode()


# --- Logging in: token and session ----------------------------------------------------------------


def test_a_token_opens_the_api(advisor, noord):
    token = Token.objects.create(user=advisor)
    response = APIClient().get("/api/clients/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert result_ids(assert_matches_schema(response)) == [noord.pk]


def test_a_wrong_token_is_refused_with_a_401(noord):
    response = APIClient().get("/api/clients/", HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"


def test_an_anonymous_call_gets_a_401_not_a_redirect_to_the_login_page(noord):
    response = APIClient().get(f"/api/clients/{noord.pk}/")
    assert_error(response, 401, "not_authenticated")
    assert_matches_schema(response)


def test_the_session_of_a_logged_in_user_opens_the_api(advisor, persona_password, noord):
    api = APIClient()
    assert api.login(username=advisor.username, password=persona_password)
    assert result_ids(assert_matches_schema(api.get("/api/clients/"))) == [noord.pk]


def test_a_session_write_needs_the_csrf_token_and_a_token_write_does_not(advisor, persona_password):
    session = APIClient(enforce_csrf_checks=True)
    session.login(username=advisor.username, password=persona_password)
    error = assert_error(session.post("/api/alerts/bulk/", {"ids": [1], "action": "resolve"}), 403, "permission_denied")
    assert "CSRF" in error["message"]
    token = Token.objects.create(user=advisor)
    with_token = APIClient(enforce_csrf_checks=True)
    response = with_token.post(
        "/api/alerts/bulk/", {"ids": [1], "action": "resolve"}, HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 200


def test_a_user_without_the_client_area_is_refused(db):
    outsider = User.objects.create_user("temp", password="x")
    response = api_client_for(outsider).get("/api/clients/")
    assert_error(response, 403, "permission_denied")
    assert_matches_schema(response)


# --- Errors: one shape ----------------------------------------------------------------------------


def test_an_unknown_api_address_is_a_json_404(advisor):
    assert_error(api_client_for(advisor).get("/api/nothing-here/"), 404, "not_found")
    assert_error(api_client_for(advisor).get("/api/clients/not-a-number/"), 404, "not_found")


def test_a_method_an_endpoint_does_not_have_is_a_json_405(advisor):
    assert_error(api_client_for(advisor).delete("/api/clients/"), 405, "method_not_allowed")


def test_broken_json_is_a_400_and_a_form_post_a_415(advisor):
    api = api_client_for(advisor)
    broken = api.post("/api/alerts/bulk/", "{not json", content_type="application/json")
    assert_error(broken, 400, "parse_error")
    form = api.post("/api/alerts/bulk/", {"ids": "1"}, format="multipart")
    assert_error(form, 415, "unsupported_media_type")


def test_invalid_filters_are_a_400_with_the_field_errors(advisor):
    response = api_client_for(advisor).get("/api/clients/", {"segment": "gold", "team": "x"})
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"segment", "team"}
    assert_matches_schema(response)


def test_an_unexpected_failure_is_a_json_500_and_is_logged(advisor, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr("clients.apis.client_list", broken)
    api = api_client_for(advisor)
    api.raise_request_exception = False
    response = api.get("/api/clients/")
    error = assert_error(response, 500, "server_error")
    assert "fire" not in error["message"]
    assert "the database is on fire" in caplog.text


def test_a_throttled_call_gets_the_same_shape_with_the_wait():
    response = api_exception_handler(Throttled(wait=12), {"request": None, "view": None})
    assert response.status_code == 429
    assert response.data["error"]["code"] == "throttled"
    assert response.data["error"]["details"] == {"wait_seconds": 12}


def test_error_messages_follow_the_language_of_the_request(noord):
    response = APIClient().get("/api/clients/", HTTP_ACCEPT_LANGUAGE="nl")
    error = assert_error(response, 401, "not_authenticated")
    assert error["message"] != "Authentication credentials were not provided."


# --- The list -------------------------------------------------------------------------------------


def test_an_advisor_lists_only_their_teams_clients(advisor, noord, zuid):
    body = assert_matches_schema(api_client_for(advisor).get("/api/clients/"))
    assert result_ids(body) == [noord.pk]
    assert body["results"][0]["team"]["name"] == advisor.team.name
    assert body["results"][0]["advisor"]["id"] == advisor.pk


def test_back_office_lists_every_team_in_name_order(back_office, noord, zuid):
    body = assert_matches_schema(api_client_for(back_office).get("/api/clients/"))
    assert result_ids(body) == [zuid.pk, noord.pk]  # Bakker before Jansen


@pytest.mark.parametrize(
    ("query", "finds"),
    [
        ({"q": "jans"}, True),
        ({"q": "1015 CJ"}, True),
        ({"q": "17-05-1980"}, True),
        ({"q": "1980-05-17"}, True),
        ({"q": "sanne.jansen@example.nl"}, True),
        ({"q": "Bakker"}, False),
        ({"segment": Segment.PREMIUM}, True),
        ({"segment": Segment.BASIC}, False),
    ],
)
def test_the_search_box_and_filters_work_as_on_the_client_list(advisor, query, finds):
    sanne = ClientFactory(
        team=advisor.team, first_name="Sanne", last_name="Jansen", email="sanne.jansen@example.nl", segment="premium"
    )
    body = assert_matches_schema(api_client_for(advisor).get("/api/clients/", query))
    assert result_ids(body) == ([sanne.pk] if finds else [])


def test_filters_by_advisor_and_team(back_office, advisor, noord, zuid):
    api = api_client_for(back_office)
    assert result_ids(api.get("/api/clients/", {"advisor": advisor.pk}).json()) == [noord.pk]
    assert result_ids(api.get("/api/clients/", {"team": zuid.team_id}).json()) == [zuid.pk]


def test_pages_follow_next_and_previous_in_name_order_without_gaps(advisor):
    names = ["Aalders", "Bos", "Claes", "Dekker", "Evers", "Floor", "Groen"]
    clients = [ClientFactory(team=advisor.team, last_name=name, household=None) for name in names]
    api = api_client_for(advisor)
    body = assert_matches_schema(api.get("/api/clients/", {"page_size": 3}))
    seen, pages = result_ids(body), [result_ids(body)]
    assert body["previous"] is None
    while body["next"]:
        body = assert_matches_schema(api.get(body["next"]))
        seen += result_ids(body)
        pages.append(result_ids(body))
    assert seen == [client.pk for client in clients]
    assert [len(page) for page in pages] == [3, 3, 1]
    back = assert_matches_schema(api.get(body["previous"]))
    assert result_ids(back) == pages[1]


def test_a_page_holds_50_unless_asked_and_never_more_than_200(advisor):
    ClientFactory.create_batch(205, team=advisor.team, household=None)
    api = api_client_for(advisor)
    assert len(api.get("/api/clients/").json()["results"]) == 50
    assert len(api.get("/api/clients/", {"page_size": 10_000}).json()["results"]) == 200


# --- One client -----------------------------------------------------------------------------------


def test_a_client_file_comes_with_a_summary_of_the_products(advisor, noord):
    body = assert_matches_schema(api_client_for(advisor).get(f"/api/clients/{noord.pk}/"))
    products = body["products"]
    assert body["full_name"] == "Sanne de Jansen"
    assert len(products["mortgages"]) == 1
    assert len(products["mortgages"][0]["loan_parts"]) == 2
    assert products["mortgages"][0]["loan_parts"][0]["outstanding_balance"] == "240000.00"
    assert [len(products[kind]) for kind in ("policies", "pensions", "assets", "consumer_loans", "incomes")] == [
        1,
        1,
        1,
        1,
        1,
    ]


def test_reading_a_client_file_through_the_api_is_recorded(advisor, noord):
    api_client_for(advisor).get(f"/api/clients/{noord.pk}/")
    assert ClientPageView.objects.filter(client=noord, user=advisor).count() == 1


def test_another_teams_client_is_not_found_and_its_reading_not_recorded(advisor, zuid):
    response = api_client_for(advisor).get(f"/api/clients/{zuid.pk}/")
    assert_error(response, 404, "not_found")
    assert_matches_schema(response)
    assert not ClientPageView.objects.exists()


def test_a_client_file_takes_the_same_number_of_queries_however_many_products(advisor):
    def queries_for(client) -> int:
        user = User.objects.get(pk=advisor.pk)  # a fresh user each time: no permission cache carried over
        with CaptureQueriesContext(connection) as queries:
            assert api_client_for(user).get(f"/api/clients/{client.pk}/").status_code == 200
        return len(queries)

    one = full_client_file(team=advisor.team, products=1)
    three = full_client_file(team=advisor.team, products=3)
    assert queries_for(one) == queries_for(three)


@pytest.mark.parametrize(
    ("enabled", "persona", "shown"),
    [
        (False, "admin", None),
        (False, "advisor", None),
        (True, "admin", "111222333"),  # admins may reveal the BSN
        (True, "advisor", "*****2333"),
    ],
)
def test_the_bsn_is_shown_only_where_the_firm_processes_it_and_in_full_only_to_who_may_reveal_it(
    settings, request, advisor, enabled, persona, shown
):
    settings.STEWARD_BSN_ENABLED = enabled
    person = ClientFactory(team=advisor.team, bsn="111222333", birth_date=date(1970, 1, 1))
    user = request.getfixturevalue(persona)
    body = assert_matches_schema(api_client_for(user).get(f"/api/clients/{person.pk}/"))
    assert body["bsn"] == shown
    listed = api_client_for(user).get("/api/clients/").json()["results"]
    assert "bsn" not in listed[0]
    assert "111222333" not in json.dumps(listed)
