"""In a real browser: an advisor finds a client, opens the 360° page and reads where values come from."""

import re

import pytest
from playwright.sync_api import expect

from .factories import full_client_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user.first_name)


def test_an_advisor_searches_opens_a_client_and_sees_sources_and_ages(
    page, live_server, advisor, advisor_other_team, persona_password
):
    mine = full_client_file(team=advisor.team, first_name="Sanne", last_name="Jansen", advisor=advisor)
    theirs = full_client_file(team=advisor_other_team.team, first_name="Pieter", last_name="Bakker")

    log_in(page, live_server, advisor, persona_password)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Clients").click()
    page.get_by_label("Search").fill("jans")
    page.get_by_role("button", name="Search").click()
    table = page.get_by_test_id("client-table")
    expect(table.get_by_role("link")).to_have_count(1)
    table.get_by_role("link", name="Jansen, Sanne de").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Sanne de Jansen")
    for group in (
        "Contact details",
        "Household",
        "Work and income",
        "Products",
        "Agreements",
        "Contact timeline",
    ):
        expect(page.get_by_role("heading", name=group)).to_be_visible()
    email = page.locator('[data-field="Client.email"]')
    expect(email).to_have_text(mine.email)
    badge = email.locator("xpath=following-sibling::span[1]")
    expect(badge).to_contain_text("crm")
    assert "Source: crm" in badge.get_attribute("title")
    expect(page.locator('[data-field="LoanPart.fixed_rate_end_date"]').first).to_have_attribute(
        "title", re.compile("Source: crm")
    )

    response = page.goto(f"{live_server.url}/clients/{theirs.pk}/")
    assert response.status == 404
