"""The retention job removes what outlived the privacy register's periods, and nothing else."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from clients.models import Client, ClientPageView, Income
from clients.tests.factories import ClientFactory, IncomeFactory
from enrichment.models import ConfirmationRequest
from ingestion.models import QuarantinedRecord, Source
from trust.dsar import ERASED_NAME
from trust.models import ErasureRecord, LegalHold
from trust.retention import retention_apply

pytestmark = pytest.mark.django_db

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
START = datetime(2026, 1, 15, 12, 0, tzinfo=AMSTERDAM)


def test_page_views_are_deleted_two_years_after_they_were_recorded(advisor):
    client = ClientFactory(team=advisor.team)
    with time_machine.travel(START, tick=False):
        ClientPageView.objects.create(client=client, user=advisor)
    with time_machine.travel(START + timedelta(days=365), tick=False):
        ClientPageView.objects.create(client=client, user=advisor)

    with time_machine.travel(START + timedelta(days=2 * 365 + 1), tick=False):
        report = retention_apply()

    assert report.deleted["clients.ClientPageView"] == 1
    assert ClientPageView.objects.count() == 1  # the younger one stays


def test_quarantined_records_go_after_90_days_and_confirmation_answers_are_anonymised_after_a_year(
    advisor, back_office
):
    client = ClientFactory(team=advisor.team)
    source = Source.objects.create(key="crm", name="CRM", kind=Source.Kind.REST, default_team=advisor.team)
    with time_machine.travel(START, tick=False):
        QuarantinedRecord.objects.create(source=source, raw={"email": "x@example.nl"}, reason="bad date")
        request = ConfirmationRequest.objects.create(
            client=client,
            requested_by=back_office,
            email="client@example.nl",
            token_hash="h" * 64,
            expires_at=timezone.now() + timedelta(days=14),
            answers={"income": "52000"},
        )

    with time_machine.travel(START + timedelta(days=91), tick=False):
        retention_apply()
        assert not QuarantinedRecord.objects.exists()
        request.refresh_from_db()
        assert request.email == "client@example.nl"  # not a year yet

    with time_machine.travel(START + timedelta(days=367), tick=False):
        first = retention_apply()
        second = retention_apply()
    request.refresh_from_db()
    assert request.email == "" and request.answers == {}
    assert first.anonymised["enrichment.ConfirmationRequest"] == 1
    assert "enrichment.ConfirmationRequest" not in second.anonymised  # nothing left to do


def test_a_client_who_left_is_erased_seven_years_later_unless_a_hold_keeps_the_file(admin, advisor):
    gone = ClientFactory(team=advisor.team, last_name="Verdwenen")
    held = ClientFactory(team=advisor.team, last_name="Bewaard")
    IncomeFactory(client=held)
    with time_machine.travel(START, tick=False):
        Client.objects.filter(pk__in=[gone.pk, held.pk]).update(deleted_at=timezone.now())
    LegalHold.objects.create(
        client=held,
        basis=LegalHold.Basis.TAX,
        end_date=(START + timedelta(days=8 * 365)).date(),
        created_by=admin,
    )

    with time_machine.travel(START + timedelta(days=6 * 365), tick=False):
        assert retention_apply().clients_erased == 0
    with time_machine.travel(START + timedelta(days=7 * 365 + 10), tick=False):
        report = retention_apply()

    gone.refresh_from_db()
    held.refresh_from_db()
    assert report.clients_erased == 2
    assert gone.last_name == ERASED_NAME and gone.email == ""
    assert held.last_name == "Bewaard" and held.email == ""  # identity kept for the tax hold, contact not
    assert Income.objects.filter(client=held).exists()
    assert not ErasureRecord.objects.get(client=held).complete

    with time_machine.travel(START + timedelta(days=8 * 365 + 5), tick=False):
        retention_apply()
    held.refresh_from_db()
    assert held.last_name == ERASED_NAME and not Income.objects.filter(client=held).exists()
    assert ErasureRecord.objects.filter(client=held, complete=True).exists()


def test_the_job_runs_nightly_in_celery_beat_and_by_command(capsys):
    task = PeriodicTask.objects.get(task="trust.retention_apply")
    assert task.enabled and task.crontab.hour == "4"

    call_command("retention_apply")

    assert "clients erased: 0" in capsys.readouterr().out
