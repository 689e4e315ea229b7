"""The canvas page, its API and its downloads: back office only, JSON in and out, CSRF checked."""

import json
import re

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from alerts.models import Alert, AlertType, Quadrant
from canvas.models import Placement, PlacementChange
from canvas.services import placement_move

from .conftest import raise_alert

pytestmark = pytest.mark.django_db


def post_json(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def test_the_board_shows_every_card_with_its_open_alerts_in_a_fixed_number_of_queries(
    client, back_office, clients, django_assert_max_num_queries
):
    for person in clients[:3]:
        raise_alert(person, "no_life_cover", segment="no_life_cover")
    client.force_login(back_office)
    with django_assert_max_num_queries(25):
        response = client.get(reverse("canvas:board"))
    html = response.content.decode()
    assert response.status_code == 200
    for quadrant in ("urgent_sensitive", "urgent_routine", "later_sensitive", "later_routine"):
        assert f'data-testid="quadrant-{quadrant}"' in html
    tray = html[html.index('data-testid="canvas-tray"') :]
    card = re.search(r'data-testid="card-no_life_cover\|".*?data-count>(\d+)<', tray, re.S)
    assert card and card.group(1) == "3"
    board = html[html.index('data-testid="canvas-board"') : html.index('data-testid="canvas-tray"')]
    assert 'data-card="fixed_rate_ending|fixed_rate_within_14_days"' in board
    # Its place as data (static/js/steward.js sets --u/--s from them: the CSP refuses style attributes).
    assert 'data-urgency="90" data-sensitivity="30"' in board
    assert reverse("canvas:board") == "/canvas/"


def test_advisors_may_not_use_the_canvas_or_its_api(client, advisor):
    client.force_login(advisor)
    assert client.get(reverse("canvas:board")).status_code == 403
    assert client.get(reverse("canvas:api-cards")).status_code == 403
    response = post_json(
        client,
        reverse("canvas:api-place"),
        {"alert_type": "no_life_cover", "segment": "", "urgency": 90, "advice_sensitivity": 90},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Placement.objects.filter(alert_type__key="no_life_cover").exists()
    assert client.get(reverse("canvas:export-pdf")).status_code == 403


def test_an_anonymous_call_is_refused(client):
    assert client.get(reverse("canvas:api-cards")).status_code == 401
    assert client.get(reverse("canvas:board")).status_code == 302  # to the login page


def test_placing_through_the_api_answers_with_the_board_and_reprioritises(client, back_office, clients):
    alert = raise_alert(clients[0], "no_life_cover", segment="no_life_cover")
    client.force_login(back_office)
    response = post_json(
        client,
        reverse("canvas:api-place"),
        {"alert_type": "no_life_cover", "segment": "", "urgency": 85, "advice_sensitivity": 90},
    )
    assert response.status_code == 200
    body = response.json()
    card = next(card for card in body["cards"] if card["key"] == "no_life_cover|")
    assert (card["urgency"], card["advice_sensitivity"], card["priority"], card["quadrant"]) == (
        85,
        90,
        87,
        "urgent_sensitive",
    )
    assert body["change"]["alerts_updated"] == 1
    assert body["change"]["before"] is None and body["change"]["after"] == {"urgency": 85, "advice_sensitivity": 90}
    alert.refresh_from_db()
    assert (alert.priority, alert.quadrant) == (87, Quadrant.URGENT_SENSITIVE)

    undo = post_json(client, reverse("canvas:api-undo"))
    assert undo.status_code == 200
    alert.refresh_from_db()
    assert alert.quadrant == Quadrant.UNPLACED
    assert post_json(client, reverse("canvas:api-undo")).status_code == 400
    history = client.get(reverse("canvas:api-history")).json()
    assert [change["by"] for change in history[:2]] == ["Carla", "Carla"]


def test_the_api_validates_scores_and_cards(client, back_office):
    client.force_login(back_office)
    url = reverse("canvas:api-place")
    bad = post_json(client, url, {"alert_type": "no_life_cover", "urgency": 101, "advice_sensitivity": 5})
    assert bad.status_code == 400 and "urgency" in bad.json()["error"]["details"]
    assert post_json(client, url, {"alert_type": "nope", "urgency": 1, "advice_sensitivity": 5}).status_code == 400
    half = post_json(client, url, {"alert_type": "no_life_cover", "urgency": 10, "advice_sensitivity": None})
    assert half.status_code == 400


def test_the_api_checks_the_csrf_token_of_a_session(back_office):
    browser = BrowserClient(enforce_csrf_checks=True)
    browser.force_login(back_office)
    response = post_json(
        browser, reverse("canvas:api-place"), {"alert_type": "no_life_cover", "urgency": 1, "advice_sensitivity": 5}
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_granulation_through_the_api_and_the_page(client, back_office, clients):
    client.force_login(back_office)
    response = post_json(
        client,
        reverse("canvas:api-granulation"),
        {"alert_type": "complaint_overdue", "attribute": "days", "bounds": [14]},
    )
    assert response.status_code == 200
    keys = {card["key"] for card in response.json()["cards"]}
    assert {"complaint_overdue|days:0-14", "complaint_overdue|days:15+"} <= keys
    bad = post_json(
        client, reverse("canvas:api-granulation"), {"alert_type": "pension_gap", "attribute": "age", "bounds": [35]}
    )
    assert bad.status_code == 400

    page = client.post(
        reverse("canvas:granulation"), {"alert_type": "pension_gap", "attribute": "age", "bounds": "30"}, follow=True
    )
    assert "Under 30" in page.content.decode() or "under 30" in page.content.decode()
    assert AlertType.objects.get(key="pension_gap").canvas_split.bounds == [30]


def test_typing_the_scores_without_javascript(client, back_office, clients):
    alert = raise_alert(clients[0], "stale_data", segment="stale_income")
    client.force_login(back_office)
    response = client.post(
        reverse("canvas:place"), {"card": "stale_data|", "urgency": "55", "advice_sensitivity": "20"}, follow=True
    )
    assert "1 open alerts re-prioritised" in response.content.decode()
    alert.refresh_from_db()
    assert (alert.priority, alert.quadrant) == (41, Quadrant.URGENT_ROUTINE)
    client.post(reverse("canvas:place"), {"card": "stale_data|", "to_tray": "1"})
    alert.refresh_from_db()
    assert alert.quadrant == Quadrant.UNPLACED
    client.post(reverse("canvas:undo"))
    alert.refresh_from_db()
    assert alert.priority == 41


def test_history_compare_and_downloads(client, back_office):
    client.force_login(back_office)
    seeded = PlacementChange.objects.latest("id").pk
    move = placement_move(
        alert_type=AlertType.objects.get(key="no_life_cover"), urgency=80, sensitivity=80, user=back_office
    )

    history = client.get(reverse("canvas:history")).content.decode()
    assert "Carla" in history and "Mortgage with dependants and no life cover" in history
    panel = client.get(reverse("canvas:history"), headers={"HX-Request": "true"}).content.decode()
    assert panel.lstrip().startswith('<section class="card" id="canvas-history"')

    compare = client.get(reverse("canvas:compare"), {"a": seeded, "b": move.pk}).content.decode()
    table = compare[compare.index('data-testid="differences"') :]
    assert "Mortgage with dependants and no life cover" in table and "(80, 80)" in table
    assert "<svg" in compare

    svg = client.get(reverse("canvas:export-svg"))
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert 'attachment; filename="steward-canvas-' in svg["Content-Disposition"]
    text = svg.content.decode()
    assert text.startswith("<svg") and "Mortgage with dependants" in text and "Urgent, advice-sensitive" in text

    pdf = client.get(reverse("canvas:export-pdf"), {"version": seeded})
    assert pdf["Content-Type"] == "application/pdf"
    data = pdf.content
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    assert b"(Not placed yet) Tj" in data
    assert b"Mortgage with dependants" in data  # in the tray at the seeded version
    # The cross-reference table points at each object.
    xref = int(re.search(rb"startxref\n(\d+)", data).group(1))
    offsets = [int(line[:10]) for line in data[xref:].split(b"\n")[3:10]]
    assert all(data[offset:].startswith(f"{n} 0 obj".encode()) for n, offset in enumerate(offsets, start=1))


def test_the_dashboard_order_follows_a_move(client, back_office, advisor, clients):
    cover = raise_alert(clients[0], "no_life_cover", segment="no_life_cover")
    home = raise_alert(
        clients[1], "home_underinsured", segment="home_underinsured", priority=20, quadrant=Quadrant.LATER_ROUTINE
    )
    client.force_login(advisor)

    def order():
        html = client.get(reverse("alerts:dashboard")).content.decode()
        return [int(pk) for pk in re.findall(r'<tr data-alert="(\d+)"', html)]

    assert order() == [home.pk, cover.pk]
    placement_move(alert_type=AlertType.objects.get(key="no_life_cover"), urgency=90, sensitivity=90, user=back_office)
    assert order() == [cover.pk, home.pk]
    assert Alert.objects.get(pk=cover.pk).quadrant == Quadrant.URGENT_SENSITIVE
