"""The Sources pages: who may see and run them, the progress bar, fixing quarantined records."""

import pytest
from django.urls import reverse

from ingestion.demo import crm_source_configure
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import QuarantinedRecord, SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def crm(team):
    server = FakeHubSpot(dutch_contacts(30, seed=3))
    server.update_contact("1004", zip="NOPE")
    with running(server) as url:
        yield crm_source_configure(base_url=url, team=team)


def test_advisors_do_not_see_the_sources(client, advisor, crm):
    client.force_login(advisor)
    assert client.get(reverse("ingestion:sources")).status_code == 403
    assert client.get(reverse("ingestion:source", args=["crm"])).status_code == 403
    assert client.post(reverse("ingestion:sync_now", args=["crm"])).status_code == 403


def test_back_office_syncs_now_and_sees_the_run_and_the_quarantine(
    client, back_office, crm, django_capture_on_commit_callbacks
):
    client.force_login(back_office)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("ingestion:sync_now", args=["crm"]))
    assert response.status_code == 302
    run = SyncRun.objects.get()
    assert (run.status, run.created, run.quarantined, run.triggered_by) == ("succeeded", 29, 1, back_office)
    overview = client.get(reverse("ingestion:sources")).content.decode()
    assert "HubSpot CRM" in overview and "Healthy" in overview
    detail = client.get(reverse("ingestion:source", args=["crm"])).content.decode()
    assert 'data-testid="quarantined-record"' in detail and "client.postcode" in detail


def test_a_record_refused_again_shows_once_with_how_often_and_since_when(client, back_office, crm):
    QuarantinedRecord.objects.create(
        source=crm, record_id="1003", raw={"zip": "NOPE"}, reason="client.postcode: not a postcode", times_seen=3
    )
    client.force_login(back_office)
    detail = client.get(reverse("ingestion:source", args=["crm"])).content.decode()
    assert detail.count('data-testid="quarantined-record"') == 1 and "refused 3 times, first " in detail
    dutch = client.get(reverse("ingestion:source", args=["crm"]), headers={"accept-language": "nl"}).content.decode()
    assert "3 keer geweigerd, eerst " in dutch


def test_the_progress_bar_polls_while_a_sync_runs_and_stops_when_it_is_done(client, back_office, crm):
    run = SyncRun.objects.create(source=crm, expected_records=200, fetched=50, pages=1)
    client.force_login(back_office)
    running_html = client.get(reverse("ingestion:progress", args=["crm"])).content.decode()
    assert 'hx-trigger="every 1s"' in running_html and 'aria-valuenow="25"' in running_html
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED, fetched=200)
    done_html = client.get(reverse("ingestion:progress", args=["crm"])).content.decode()
    assert "hx-trigger" not in done_html and 'aria-valuenow="100"' in done_html


def test_a_quarantined_record_is_fixed_on_the_page_and_lands(
    client, back_office, crm, django_capture_on_commit_callbacks
):
    client.force_login(back_office)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ingestion:sync_now", args=["crm"]))
    quarantined = QuarantinedRecord.objects.get()
    raw = quarantined.raw_json.replace('"NOPE"', '"1234 AB"')
    client.post(reverse("ingestion:quarantine_retry", args=[quarantined.pk]), {"raw": raw})
    quarantined.refresh_from_db()
    assert quarantined.status == QuarantinedRecord.Status.RETRIED


def test_a_still_broken_record_stays_in_quarantine_with_the_new_reason(
    client, back_office, crm, django_capture_on_commit_callbacks
):
    client.force_login(back_office)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ingestion:sync_now", args=["crm"]))
    quarantined = QuarantinedRecord.objects.get()
    client.post(
        reverse("ingestion:quarantine_retry", args=[quarantined.pk]),
        {"raw": quarantined.raw_json.replace('"NOPE"', '"0000 XX"')},
    )
    quarantined.refresh_from_db()
    assert quarantined.status == QuarantinedRecord.Status.OPEN and "0000 XX" in quarantined.reason
    client.post(reverse("ingestion:quarantine_dismiss", args=[quarantined.pk]))
    quarantined.refresh_from_db()
    assert quarantined.status == QuarantinedRecord.Status.DISMISSED


def test_when_the_watched_run_ends_the_page_reloads_to_show_its_history(client, back_office, crm):
    SyncRun.objects.create(source=crm, status=SyncRun.Status.SUCCEEDED, fetched=3)
    client.force_login(back_office)
    polled = client.get(reverse("ingestion:progress", args=["crm"]), headers={"HX-Request": "true"})
    assert polled["HX-Refresh"] == "true"
