"""In a real browser: each role logs in and sees its own navigation, in English and in Dutch."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAVIGATION = {
    "advisor": (
        ["Clients", "Alerts", "Insights"],
        ["Klanten", "Signalen", "Inzichten"],
        ["Sources", "Canvas"],
    ),
    "back_office": (
        ["Clients", "Sources", "Alerts", "Canvas", "Follow-up", "Insights"],
        ["Klanten", "Bronnen", "Signalen", "Canvas", "Opvolging", "Inzichten"],
        ["Framework", "Admin"],
    ),
    "admin": (
        ["Clients", "Sources", "Framework", "Alerts", "Canvas", "Follow-up", "Insights", "Admin"],
        ["Klanten", "Bronnen", "Adviesraamwerk", "Signalen", "Canvas", "Opvolging", "Inzichten", "Beheer"],
        [],
    ),
}


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user.first_name)


@pytest.mark.parametrize("persona", list(NAVIGATION))
def test_each_role_sees_its_navigation_in_english_and_in_dutch(page, live_server, request, persona, persona_password):
    user = request.getfixturevalue(persona)
    english, dutch, hidden = NAVIGATION[persona]

    log_in(page, live_server, user, persona_password)
    navigation = page.get_by_test_id("nav-areas")
    expect(navigation).to_have_text(re.compile(".*".join(english), re.DOTALL))
    for label in hidden:
        expect(navigation.get_by_text(label, exact=True)).to_have_count(0)

    page.get_by_label("Language").select_option("nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(navigation).to_have_text(re.compile(".*".join(dutch), re.DOTALL))
    expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()

    page.get_by_role("button", name="Uitloggen").click()
    expect(page.get_by_role("heading", name="Inloggen bij Steward")).to_be_visible()
