"""In a real browser: back office sends a confirmation link, the client answers it without logging in,
back office accepts, and the 360° page shows the client's value with source "client"."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from clients.models import MaritalStatus
from clients.tests.factories import ClientFactory, EmploymentFactory, IncomeFactory, PropertyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user.first_name)


def test_a_client_confirms_their_data_through_the_link_and_back_office_accepts(
    page, new_context, live_server, back_office, team, persona_password
):
    person = ClientFactory(team=team, first_name="Sanne", last_name="Jansen", marital_status=MaritalStatus.SINGLE)
    # Rows a sync wrote (with a slot): the client's answers update them.
    IncomeFactory(client=person, sync_slot="income", gross_annual_amount=Decimal("58000"))
    EmploymentFactory(client=person, sync_slot="employment")
    PropertyFactory(client=person, sync_slot="property")

    # Back office sends the link from the client's 360° page; the page shows it once.
    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/clients/{person.pk}/")
    page.get_by_role("button", name="Ask the client to confirm their data").click()
    expect(page.get_by_test_id("status")).to_have_text("Sent")
    link = page.get_by_test_id("confirmation-link").input_value()
    assert "/confirm/" in link

    # The client opens it in their own browser, without an account, and corrects their income.
    client_context = new_context()
    client_page = client_context.new_page()
    client_page.goto(link)
    expect(client_page.get_by_role("heading", level=1)).to_contain_text("Sanne")
    income = client_page.get_by_label("Your gross income per year (€)")
    expect(income).to_have_value("58,000.00")
    income.fill("64,000")
    client_page.get_by_label("Your employer").fill("Gemeente Utrecht")
    client_page.get_by_label("Yes").check()
    client_page.get_by_label("How many children do you have?").fill("1")
    client_page.get_by_label("What do you think your home is worth now? (€)").fill("480000")
    client_page.get_by_label("I confirm that these details are correct.").check()
    client_page.get_by_role("button", name="Send my answers").click()
    expect(client_page.get_by_test_id("thanks")).to_be_visible()
    # The link works once.
    client_page.goto(link)
    expect(client_page.get_by_test_id("link-invalid")).to_be_visible()
    client_context.close()

    # Back office reviews the answers and accepts them.
    page.goto(f"{live_server.url}/enrichment/confirmations/")
    page.get_by_test_id("to-review").get_by_role("link", name="Review").click()
    expect(page.locator('[data-key="gross_annual_income"]')).to_contain_text("64000")
    page.get_by_role("button", name="Accept the answers").click()
    expect(page.get_by_test_id("status")).to_have_text("Accepted")

    # The 360° page shows the value as the client's own, and what the client told us.
    page.goto(f"{live_server.url}/clients/{person.pk}/")
    value = page.locator('[data-field="Income.gross_annual_amount"]')
    expect(value).to_have_attribute("data-source", "client")
    expect(value).to_contain_text("64,000")
    expect(value.locator("xpath=following-sibling::span[1]")).to_contain_text("Client")
    expect(page.get_by_test_id("client-answers")).to_contain_text("Income: gross per year")
    expect(page.locator('[data-fact="gross_income"]')).to_contain_text("64,000")
