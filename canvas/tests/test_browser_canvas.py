"""In a real browser: back office places cards by mouse, keyboard, touch and typed scores; the
advisor's dashboard order follows."""

import re

import pytest
from playwright.sync_api import expect

from alerts.models import Alert, Quadrant

from .conftest import raise_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLACE = re.compile(r"/api/canvas/placements/$")


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_be_visible()


def card(page, key, where="canvas"):
    scope = {"canvas": "", "board": "#canvas-board ", "tray": "#canvas-tray "}[where]
    return page.locator(f'{scope}.canvas-card[data-card="{key}"]')


def dashboard_order(page, live_server) -> list[int]:
    page.goto(f"{live_server.url}/dashboard/")
    rows = page.get_by_test_id("alert-table").locator("tbody tr")
    return [int(pk) for pk in rows.evaluate_all("rows => rows.map(row => row.dataset.alert)")]


def center_in(inner, outer) -> bool:
    a, b = inner.bounding_box(), outer.bounding_box()
    x, y = a["x"] + a["width"] / 2, a["y"] + a["height"] / 2
    return b["x"] <= x <= b["x"] + b["width"] and b["y"] <= y <= b["y"] + b["height"]


def test_dragging_a_card_into_the_urgent_very_advice_sensitive_quadrant_reorders_the_dashboard(
    page, new_context, live_server, back_office, advisor, clients, persona_password
):
    cover = raise_alert(clients[0], "no_life_cover", segment="no_life_cover")
    home = raise_alert(
        clients[1], "home_underinsured", segment="home_underinsured", priority=20, quadrant=Quadrant.LATER_ROUTINE
    )
    advisor_page = new_context().new_page()
    log_in(advisor_page, live_server, advisor, persona_password)
    assert dashboard_order(advisor_page, live_server) == [home.pk, cover.pk]

    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/canvas/")
    expect(card(page, "no_life_cover|", "tray")).to_contain_text("1 open alert")
    board = page.get_by_test_id("canvas-board")
    box = board.bounding_box()
    with page.expect_response(PLACE) as response:
        page.drag_and_drop(
            '#canvas-tray .canvas-card[data-card="no_life_cover|"]',
            "#canvas-board",
            target_position={"x": box["width"] * 0.85, "y": box["height"] * 0.15},
        )
    assert response.value.ok
    expect(card(page, "no_life_cover|", "board")).to_have_class(re.compile("quadrant-urgent_sensitive"))
    expect(page.get_by_test_id("canvas-history")).to_contain_text(cover.alert_type.name)

    page.reload()
    placed = card(page, "no_life_cover|", "board")
    expect(placed).to_be_visible()
    assert center_in(placed, page.get_by_test_id("quadrant-urgent_sensitive"))
    urgency, sensitivity = int(placed.get_attribute("data-urgency")), int(placed.get_attribute("data-sensitivity"))
    assert urgency >= 75 and sensitivity >= 75
    expect(card(page, "no_life_cover|", "tray")).to_have_count(0)

    assert dashboard_order(advisor_page, live_server) == [cover.pk, home.pk]
    cover.refresh_from_db()
    assert cover.quadrant == Quadrant.URGENT_SENSITIVE


def test_the_keyboard_picks_a_card_up_moves_it_by_five_points_and_drops_it(
    page, live_server, back_office, clients, persona_password
):
    complaint = raise_alert(clients[0], "complaint_overdue", segment="complaint_overdue")
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/canvas/")

    target = card(page, "complaint_overdue|")
    target.focus()
    page.keyboard.press("Enter")  # picked up: onto the middle of the board
    expect(target).to_have_attribute("aria-pressed", "true")
    expect(card(page, "complaint_overdue|", "board")).to_have_count(1)
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    for _ in range(4):
        page.keyboard.press("ArrowUp")
    expect(page.get_by_test_id("canvas-status")).to_contain_text("Urgency 80, advice-sensitivity 70")
    with page.expect_response(PLACE) as response:
        page.keyboard.press("Enter")
    assert response.value.ok
    expect(target).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_test_id("canvas-status")).to_contain_text("Saved")

    # Escape puts a card back without saving.
    target.focus()
    page.keyboard.press("ArrowLeft")
    expect(target).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")
    expect(target).to_have_attribute("aria-pressed", "false")

    page.reload()
    placed = card(page, "complaint_overdue|", "board")
    expect(placed).to_have_attribute("data-urgency", "80")
    expect(placed).to_have_attribute("data-sensitivity", "70")
    complaint.refresh_from_db()
    assert (complaint.priority, complaint.quadrant) == (76, Quadrant.URGENT_SENSITIVE)


def test_typing_the_two_scores_and_undo(page, live_server, back_office, clients, persona_password):
    contact = raise_alert(clients[0], "no_recent_contact", segment="no_recent_contact")
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/canvas/")

    card(page, "no_recent_contact|").click()  # selecting a card chooses it in the form
    expect(page.get_by_label("Card")).to_have_value("no_recent_contact|")
    page.get_by_label("Urgency (0–100)").fill("20")
    page.get_by_label("Advice-sensitivity (0–100)").fill("80")
    with page.expect_response(PLACE):
        page.get_by_role("button", name="Place", exact=True).click()
    expect(card(page, "no_recent_contact|", "board")).to_have_class(re.compile("quadrant-later_sensitive"))
    assert Alert.objects.get(pk=contact.pk).priority == 44

    with page.expect_response(re.compile(r"/api/canvas/undo/$")):
        page.get_by_test_id("undo").click()
    expect(card(page, "no_recent_contact|", "tray")).to_have_count(1)
    assert Alert.objects.get(pk=contact.pk).quadrant == Quadrant.UNPLACED


def test_a_finger_drags_a_card_with_pointer_events(page, live_server, back_office, clients, persona_password):
    # Transactional tests empty the database after each test, seeded alert types too: make our own.
    raise_alert(clients[0], "interest_only_past_aow", segment="interest_only_past_aow")
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/canvas/")
    source = card(page, "interest_only_past_aow|")
    start, plane = source.bounding_box(), page.locator("#canvas-plane").bounding_box()  # the 0–100 area
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = plane["x"] + plane["width"] * 0.25, plane["y"] + plane["height"] * 0.2  # not urgent, very sensitive
    with page.expect_response(PLACE):
        source.evaluate(
            """(card, [x0, y0, x1, y1]) => {
                const fire = (type, x, y) => card.dispatchEvent(new PointerEvent(type, {
                    bubbles: true, cancelable: true, pointerId: 7, pointerType: "touch", isPrimary: true,
                    clientX: x, clientY: y}));
                fire("pointerdown", x0, y0);
                for (let step = 1; step <= 5; step++) {
                    fire("pointermove", x0 + (x1 - x0) * step / 5, y0 + (y1 - y0) * step / 5);
                }
                fire("pointerup", x1, y1);
            }""",
            [x0, y0, x1, y1],
        )
    placed = card(page, "interest_only_past_aow|", "board")
    expect(placed).to_have_class(re.compile("quadrant-later_sensitive"))
    expect(placed).to_have_attribute("data-urgency", "25")
    expect(placed).to_have_attribute("data-sensitivity", "80")
