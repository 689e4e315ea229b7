"""In a real browser: an admin adds a source, maps its fields, syncs it, and sees the consolidation."""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from clients.models import Client
from ingestion.demo import advisory_source_configure, precedence_configure
from ingestion.fake_sources.advisory import FakeAdvisoryTool
from ingestion.fake_sources.hubspot import TEST_TOKEN, FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.services.sync import source_sync

from .test_consolidation import contact, relation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAPPINGS = [
    ("firstname", "client.first_name", "none"),
    ("lastname", "client.last_name", "none"),
    ("email", "client.email", "lowercase"),
    ("annual_income", "income.gross_annual_amount", "decimal"),
]


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user.first_name)


def test_an_admin_adds_a_crm_maps_it_syncs_and_the_client_page_shows_winner_and_conflict(
    page, live_server, admin, team, persona_password
):
    crm_server = FakeHubSpot([contact(101, email="sanne@example.nl", income="52000")])
    tool_server = FakeAdvisoryTool(
        [relation("R-1", email="sanne@example.nl", income=Decimal("55000"), modified=datetime(2026, 9, 1, tzinfo=UTC))]
    )
    with running(crm_server) as crm_url, running(tool_server) as tool_url:
        # The advisory tool is already connected and synced.
        tool = advisory_source_configure(base_url=tool_url, team=team)
        precedence_configure()
        source_sync(source_id=tool.pk)

        log_in(page, live_server, admin, persona_password)
        page.goto(f"{live_server.url}/admin/ingestion/source/add/")
        page.get_by_label("Key").fill("hubspot")
        page.get_by_label("Name").fill("HubSpot CRM")
        page.get_by_label("Kind").select_option("hubspot")
        page.get_by_label("Team for new clients").select_option(label=team.name)
        page.locator("#id_config").fill(json.dumps({"base_url": crm_url, "properties": [m[0] for m in MAPPINGS]}))
        page.locator("#id_new_credentials").fill(json.dumps({"access_token": TEST_TOKEN}))
        for index, (path, target, transform) in enumerate(MAPPINGS):
            if index:
                page.get_by_text(re.compile("Add another Field mapping", re.IGNORECASE)).click()
            page.locator(f"#id_mappings-{index}-source_path").fill(path)
            page.locator(f"#id_mappings-{index}-target").select_option(target)
            page.locator(f"#id_mappings-{index}-transform").select_option(transform)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")

        page.goto(f"{live_server.url}/sources/")
        page.get_by_role("link", name="HubSpot CRM").click()
        page.get_by_role("button", name="Sync now").click()
        progress = page.get_by_test_id("sync-progress")
        expect(progress).to_contain_text("Succeeded")
        expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
        expect(page.get_by_test_id("run-history")).to_contain_text("Sync now")
        expect(page.get_by_test_id("health-hubspot")).to_have_text("Healthy")

    sanne = Client.objects.get()
    assert sanne.birth_date == date(1984, 3, 12)  # from the advisory tool: one person, two sources
    page.goto(f"{live_server.url}/clients/{sanne.pk}/")
    conflicts = page.get_by_test_id("data-conflicts")
    expect(conflicts).to_contain_text("Income: gross per year")
    expect(conflicts).to_contain_text("€55,000")  # the winner: the advisory tool outranks the CRM
    expect(conflicts).to_contain_text("€52,000")  # what the CRM says, kept
    expect(page.locator('[data-field="Income.gross_annual_amount"]')).to_have_attribute("data-source", "advisory-tool")
