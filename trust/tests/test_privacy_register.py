"""The privacy register: every field of every model says what it is, what for and how long."""

import csv
import io

import pytest
from django.core.management import call_command
from django.db import models
from django.urls import reverse

from trust.privacy_register import (
    RELATIONSHIP_END,
    WHILE_IN_USE,
    Action,
    Category,
    model_fields,
    processing_register,
    registered_models,
    stale_entries,
    tag_for,
    untagged_fields,
)


def test_every_field_of_every_model_has_a_privacy_tag():
    missing = untagged_fields()

    assert not missing, (
        f"{len(missing)} field(s) have no entry in the privacy register. Add each to ENTRIES in "
        "trust/privacy_register.py with its category, purposes, retention and legal basis "
        "(Category.NOT_PERSONAL via NOT_PERSONAL if it holds no personal data):\n  "
        + "\n  ".join(str(field) for field in missing)
    )


def test_no_tag_is_left_for_a_field_that_no_longer_exists():
    assert stale_entries() == [], "remove or rename these entries in trust/privacy_register.py"


def test_every_retention_counts_from_a_date_of_its_own_row_or_the_relationship():
    for model in registered_models():
        for item in model_fields(model):
            tag = tag_for(model, item.name)
            if tag is None or tag.retention.after in (RELATIONSHIP_END, WHILE_IN_USE):
                continue
            clock = model._meta.get_field(tag.retention.after)
            assert isinstance(clock, models.DateField), f"{model.__name__}.{item.name}: {tag.retention.after}"


def test_a_field_the_job_anonymises_can_be_anonymised():
    from trust.dsar import anonymous_values

    for model in registered_models():
        names = [
            item.name
            for item in model_fields(model)
            if (tag := tag_for(model, item.name)) and tag.retention.action == Action.ANONYMISE
        ]
        if names:
            anonymous_values(model, names)  # raises for a field that can only be deleted with its row


def test_the_register_of_processing_covers_every_category_of_personal_data_with_purpose_basis_and_retention():
    activities = {activity.category: activity for activity in processing_register()}

    assert Category.FINANCIAL in activities and Category.NATIONAL_ID in activities
    assert Category.NOT_PERSONAL not in activities
    for activity in activities.values():
        assert activity.purposes and activity.legal_bases and activity.retention and activity.fields
    assert "clients.Client.bsn" in activities[Category.NATIONAL_ID].fields
    assert "commercial" not in activities[Category.FINANCIAL].purposes  # the ING lesson


@pytest.mark.django_db
def test_admins_read_the_register_of_processing_and_download_it(client, admin):
    client.force_login(admin)

    page = client.get(reverse("privacy:register"))
    as_csv = client.get(reverse("privacy:register") + "?format=csv")
    as_markdown = client.get(reverse("privacy:register") + "?format=md")

    assert page.status_code == 200 and "clients.Client.email" in page.content.decode()
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert {"field": "clients.Client.bsn"}.items() <= next(
        r for r in rows if r["field"] == "clients.Client.bsn"
    ).items()
    assert as_markdown.content.decode().startswith("# Register of processing activities")


@pytest.mark.django_db
def test_advisors_and_back_office_may_not_see_the_register(client, advisor, back_office):
    for user in (advisor, back_office):
        client.force_login(user)
        assert client.get(reverse("privacy:register")).status_code == 403


def test_the_command_writes_the_register_as_markdown_and_csv(tmp_path):
    call_command("privacy_register", "--output", str(tmp_path / "register.md"))
    call_command("privacy_register", "--format", "csv", "--output", str(tmp_path / "register.csv"))

    assert "| Financial situation and products |" in (tmp_path / "register.md").read_text()
    assert "clients.Income.gross_annual_amount" in (tmp_path / "register.csv").read_text()
