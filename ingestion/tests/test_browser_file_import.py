"""In a real browser: back office uploads a CSV, maps its columns, checks the preview and imports it."""

import re

import pytest
from playwright.sync_api import expect

from clients.models import Client
from ingestion.models import Source

from .test_file_import import ROWS, csv_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, user, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("current-user")).to_contain_text(user.first_name)


def test_back_office_uploads_maps_previews_and_imports_a_csv(page, live_server, back_office, team, persona_password):
    Source.objects.create(key="spreadsheet", name="Spreadsheet uploads", kind=Source.Kind.FILE, default_team=team)

    log_in(page, live_server, back_office, persona_password)
    page.goto(f"{live_server.url}/sources/spreadsheet/")
    page.get_by_role("link", name="Upload a file").click()
    page.get_by_label("CSV or Excel file").set_input_files(
        {"name": "klanten.csv", "mimeType": "text/csv", "buffer": csv_bytes()}
    )
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.get_by_test_id("column-mapping")).to_contain_text("sanne@example.nl")  # values help choose
    page.get_by_label("Column that identifies a record").select_option("Klantnummer")
    for column, target, transform in [
        ("Voornaam", "client.first_name", "none"),
        ("Achternaam", "client.last_name", "none"),
        ("Geb. datum", "client.birth_date", "date"),
        ("E-mail", "client.email", "lowercase"),
        ("Postcode", "client.postcode", "postcode"),
        ("Bruto jaarinkomen", "income.gross_annual_amount", "decimal_comma"),
    ]:
        page.get_by_label(f"Steward field: {column}").select_option(target)
        page.get_by_label(f"Read as: {column}").select_option(transform)
    page.get_by_label("Format or map: Geb. datum").fill("%d-%m-%Y")
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_role("heading", name="Check before importing")).to_be_visible()
    expect(page.get_by_test_id("valid-rows")).to_have_text("3")
    expect(page.get_by_test_id("invalid-rows")).to_have_text("2")
    expect(page.get_by_test_id("invalid-table")).to_contain_text("Enter a Dutch postcode")
    expect(page.get_by_test_id("sample-table")).to_contain_text("52000.00")
    assert not Client.objects.exists()  # the preview wrote nothing
    page.get_by_role("button", name="Import 3 valid rows (invalid rows go to quarantine)").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Spreadsheet uploads")
    expect(page.get_by_role("alert").first).to_contain_text("Imported klanten.csv: 3 new")
    history = page.get_by_test_id("run-history")
    expect(history.locator("tbody tr").first).to_contain_text("File upload")
    expect(history.locator("tbody tr").first).to_contain_text(re.compile(r"Succeeded"))
    expect(page.get_by_test_id("quarantined-record")).to_have_count(2)
    expect(page.get_by_test_id("quarantined-record").filter(has_text="K-4")).to_contain_text("12345")
    assert Client.objects.count() == len(ROWS) - 2
