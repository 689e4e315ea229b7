"""A night's run skips the clients for whom nothing could have changed (framework.changes,
framework.horizon). The specification: a run that skips leaves exactly the alerts, events and
evaluation state that a run evaluating every client leaves, whatever changed in between and
however many days passed; and every way of changing a file names its client."""

import random
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from alerts import evaluation
from alerts.evaluation import book_plan, framework_run
from alerts.models import Alert, AlertEvent
from alerts.services import alerts_dismiss
from clients.generation import books_ensure, clients_generate
from clients.models import Client, Complaint, ContactMoment, FamilyMember, InsurancePolicy, LoanPart
from enrichment.models import ClientFacts
from enrichment.services import facts_refresh
from framework.changes import watched_tables
from framework.language.schema import schema
from framework.models import ClientChange, ClientEvaluation, FrameworkVersion, Rule

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="skipping is PostgreSQL's (the SQL path)"),
]

COMPARED = ("client_id", "alert_type__key", "segment", "status", "message", "values", "values_fingerprint",
            "granulation", "due_date", "priority", "quadrant", "assigned_to_id", "rule_id", "rule_version_id",
            "status_reason")  # fmt: skip


def state_now() -> tuple:
    alerts = sorted(Alert.objects.values_list(*COMPARED), key=repr)
    events = sorted(
        AlertEvent.objects.values_list("alert__client_id", "alert__alert_type__key", "from_status", "to_status")
    )
    return alerts, events


class Undo(Exception):
    pass


def skipping_and_everyone(today) -> tuple:
    """From the same state: the alerts and events after a run that skips, and after one that does not."""
    outcomes = []
    for everyone in (False, True):
        try:
            with transaction.atomic():
                summary = framework_run(today=today, everyone=everyone)
                outcomes.append((state_now(), summary))
                raise Undo
        except Undo:
            pass
    return outcomes


def changed_clients() -> set[int]:
    return set(ClientChange.objects.values_list("client_id", flat=True))


@pytest.fixture
def book(db):
    clients_generate(count=300, seed=11, books=books_ensure())
    facts_refresh()


def test_a_second_run_the_same_day_evaluates_nobody_and_keeps_every_alert(book):
    first = framework_run()
    assert first.skipped == 0 and first.counts.opened > 100
    again = framework_run()
    assert again.skipped == again.clients == Client.objects.count()
    assert again.counts.kept == first.counts.opened
    assert (again.counts.opened, again.counts.updated, again.counts.closed) == (0, 0, 0)


@pytest.fixture(params=["as shipped", "small ranges, due clients by name", "small ranges, run as ranges"])
def ranges(request, monkeypatch):
    """How a night is planned (alerts.evaluation.book_plan): a 300-client book is one range as shipped;
    in ranges of 40 ids, either every range with a client due runs as a range, or none does."""
    if request.param != "as shipped":
        monkeypatch.setattr(evaluation, "CHUNK_SIZE", 40)
        by_name = request.param == "small ranges, due clients by name"
        monkeypatch.setattr(evaluation, "SPARSE_RANGE_MAX_DUE", 40 if by_name else 0)
    return request.param


def test_nights_that_skip_leave_what_nights_that_evaluate_everyone_leave(book, ranges):
    """Random changes of every kind between nights, nights days and months apart. One rule more reads a
    household's rows against today (a child turning 18), so those rows' horizons count too."""
    version = FrameworkVersion.objects.get(status="active")
    Rule.objects.create(version=version, key="child_at_home", name="Child at home", alert_type="child_at_home",
                        urgency="low", condition="any(family_members[lives_at_home = true"
                        " and birth_date > today - 18 years])", message_template="A child at home")  # fmt: skip
    framework_run()
    chance = random.Random(5)
    today = timezone.localdate()
    clients = list(Client.objects.order_by("pk"))
    for days in (0, 1, 2, 9, 31, 95, 200, 366):
        day = today + timedelta(days=days)
        picked = chance.sample(clients, 12)
        LoanPart.objects.filter(mortgage__client__in=picked[:3]).update(fixed_rate_end_date=day + timedelta(days=10))
        ContactMoment.objects.create(client=picked[3], channel="phone", direction="outbound", subject="call",
                                     occurred_at=timezone.now() + timedelta(days=days))  # fmt: skip
        Complaint.objects.filter(client__in=picked[4:6]).update(status="resolved")
        InsurancePolicy.objects.filter(client=picked[6]).delete()
        FamilyMember.objects.filter(household=picked[6].household_id).update(lives_at_home=True)
        Client.objects.filter(pk=picked[7].pk).update(client_since=day - timedelta(days=800))
        ClientFacts.objects.filter(client__in=picked[8:10]).update(has_life_cover=False)
        live = Alert.objects.filter(client__in=picked[10:], status="open")
        alerts_dismiss(alerts=live, user=None, reason="seen")
        (skipped_state, skipped), (everyone_state, _everyone) = skipping_and_everyone(day)
        assert skipped_state == everyone_state, f"{days} days on"
        assert skipped.skipped > 0 or days >= 200, "most clients wait for their horizon"
        framework_run(today=day)  # the night as it happened


def test_a_night_runs_the_ranges_where_many_are_due_and_the_few_due_elsewhere_by_name(book, monkeypatch):
    from trust.models import EvaluationRun

    monkeypatch.setattr(evaluation, "CHUNK_SIZE", 100)
    monkeypatch.setattr(evaluation, "SPARSE_RANGE_MAX_DUE", 5)
    clients_generate(count=100, seed=12, books=books_ensure())
    facts_refresh()
    framework_run()
    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))
    assert ids == list(range(ids[0], ids[0] + 400))
    # Many due in the first range, a few in the second, none in the third; the fourth's three clients
    # left are all due.
    moved = ids[:20] + ids[150:153] + ids[397:]
    Client.objects.filter(pk__in=moved).update(client_since=timezone.localdate() - timedelta(days=5000))
    Client.objects.filter(pk__in=ids[300:397]).update(deleted_at=timezone.now())
    plan = book_plan(version=FrameworkVersion.objects.get(status="active"), today=timezone.localdate())
    assert plan.ranges == [(ids[0], ids[0] + 100)]
    assert plan.batches == [ids[150:153] + ids[397:]]
    assert [(start, clients, due) for start, _stop, clients, due in plan.quiet] == [
        (ids[0] + 100, 100, 3),
        (ids[0] + 200, 100, 0),
        (ids[0] + 300, 3, 3),
    ]
    EvaluationRun.objects.all().delete()
    night = framework_run()
    assert (night.chunks, night.clients, night.skipped) == (2, 303, 277)
    live = Alert.objects.filter(status__in=Alert.LIVE_STATUSES, client__deleted_at__isnull=True)
    assert night.counts.kept + night.counts.opened == live.count()
    # The duty-of-care file: every current client was in tonight's run, the three also by name.
    runs = EvaluationRun.objects.all()
    assert all(any(run.covers(pk) for run in runs) for pk in ids[:300] + ids[397:])
    assert sum(run.covers(ids[151]) for run in runs) == 2
    assert changed_clients() == set()  # the deleted clients' marks too


def test_the_nightly_task_sends_the_ranges_and_batches_and_leaves_what_a_run_leaves(book, monkeypatch):
    from alerts.tasks import evaluate_all

    monkeypatch.setattr(evaluation, "CHUNK_SIZE", 100)
    monkeypatch.setattr(evaluation, "SPARSE_RANGE_MAX_DUE", 5)
    framework_run()
    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))
    Client.objects.filter(pk__in=ids[:20] + ids[150:153]).update(
        client_since=timezone.localdate() - timedelta(days=5000)
    )
    try:
        with transaction.atomic():
            framework_run()
            expected = state_now()
            raise Undo
    except Undo:
        pass
    evaluate_all.delay()
    assert state_now() == expected
    assert changed_clients() == set()


def test_a_rule_changed_evaluates_everyone_again(book):
    framework_run()
    Rule.objects.filter(key="no_contact_12_months").update(parameters={"months": 6})
    summary = framework_run()
    assert summary.skipped == 0 and summary.counts.opened > 0


def test_evaluating_named_clients_takes_their_changes_and_remembers_them(book):
    framework_run()
    client = Client.objects.filter(mortgages__isnull=False).order_by("pk").first()
    LoanPart.objects.filter(mortgage__client=client).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=5)
    )
    assert client.pk in changed_clients()
    framework_run(client_ids={client.pk})
    assert client.pk not in changed_clients()
    evaluation = ClientEvaluation.objects.get(client=client)
    assert evaluation.evaluated_on == timezone.localdate()
    # Its fixed-rate period ends within 14 days: the alert's window moves every few days.
    assert evaluation.valid_until <= timezone.localdate() + timedelta(days=6)


def test_a_rule_reading_today_in_another_way_makes_everyone_due_the_next_day(book):
    version = FrameworkVersion.objects.get(status="active")
    Rule.objects.create(version=version, key="long_known", name="Long known", alert_type="long_known",
                        urgency="low", condition="days_between(client.client_since, today) > 3650",
                        message_template="Known for long")  # fmt: skip
    framework_run()
    assert framework_run().skipped == Client.objects.count()
    tomorrow = framework_run(today=timezone.localdate() + timedelta(days=1))
    assert tomorrow.skipped == 0


# --- Every way of changing a file names its client -------------------------------------------------


def test_an_update_of_a_readable_column_names_the_client_and_a_rewrite_of_the_same_values_does_not(book):
    ClientChange.objects.all().delete()
    client = Client.objects.order_by("pk").first()
    Client.objects.filter(pk=client.pk).update(city=client.city)  # the same value
    Client.objects.filter(pk=client.pk).update(bsn="123456782")  # no rule may read a BSN
    assert changed_clients() == set()
    Client.objects.filter(pk=client.pk).update(city="Zwolle")
    assert changed_clients() == {client.pk}


def test_a_facts_refresh_that_changes_nothing_names_nobody(book):
    ClientChange.objects.all().delete()
    facts_refresh()
    assert changed_clients() == set()


def test_a_loan_part_names_its_mortgage_client_and_a_family_member_every_client_of_the_household(book):
    ClientChange.objects.all().delete()
    part = LoanPart.objects.select_related("mortgage").order_by("pk").first()
    LoanPart.objects.filter(pk=part.pk).update(principal=part.principal + 1)
    assert changed_clients() == {part.mortgage.client_id}
    ClientChange.objects.all().delete()
    member = FamilyMember.objects.exclude(household=None).order_by("pk").first()
    FamilyMember.objects.filter(pk=member.pk).update(lives_at_home=not member.lives_at_home)
    assert changed_clients() == set(Client.objects.filter(household=member.household_id).values_list("pk", flat=True))


def test_a_dismissal_names_the_client_and_the_runs_own_writes_do_not(book):
    framework_run()
    assert changed_clients() == set(), "the run opened hundreds of alerts"
    alert = Alert.objects.filter(status="open").order_by("pk").first()
    alerts_dismiss(alerts=Alert.objects.filter(pk=alert.pk), user=None, reason="seen")
    assert changed_clients() == {alert.client_id}


def test_every_table_a_rule_can_read_has_its_change_triggers(db):
    tables = {collection.model._meta.db_table for collection in schema().collections.values()}
    tables |= {Client._meta.db_table, ClientFacts._meta.db_table, Alert._meta.db_table}
    assert {watched.table for watched in watched_tables()} == tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'steward_fw_changed_%'"
        )
        assert {row[0] for row in cursor.fetchall()} == tables


def test_a_client_changed_twice_is_named_once(book):
    ClientChange.objects.all().delete()
    client = Client.objects.order_by("pk").first()
    Client.objects.filter(pk=client.pk).update(city="Zwolle")
    Client.objects.filter(pk=client.pk).update(city="Kampen")
    assert list(ClientChange.objects.values_list("client_id", flat=True)) == [client.pk]


def default_framework_loaded() -> None:
    """The default framework and canvas as the data migrations leave them (a transactional test
    starts from a database another one emptied)."""
    from importlib import import_module

    from django.apps import apps

    if FrameworkVersion.objects.filter(status="active").exists():
        return
    for name in ("framework.migrations.0002_default_framework", "framework.migrations.0003_more_default_rules"):
        import_module(name).load(apps, None)
    import_module("canvas.migrations.0002_default_placements").seed(apps, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("named_before", [True, False])
def test_a_change_made_while_a_run_takes_the_marks_off_is_never_lost(named_before):
    """A sync changes a client while the night's run reaches its chunk: either the run reads the
    change, or the client stays named for the next run. (With the mark taken off and the old file
    read, the change would wait for the client's next change, unseen.)"""
    import threading

    default_framework_loaded()
    clients_generate(count=40, seed=3, books=books_ensure())
    facts_refresh()
    framework_run()
    client = Client.objects.filter(mortgages__loan_parts__isnull=False).order_by("pk").first()
    if named_before:
        Client.objects.filter(pk=client.pk).update(city=f"{client.city} (moved)")
        assert client.pk in changed_clients()
    soon = timezone.localdate() + timedelta(days=5)
    changed, release, finished = threading.Event(), threading.Event(), threading.Event()

    def change():
        try:
            with transaction.atomic():
                LoanPart.objects.filter(mortgage__client=client).update(fixed_rate_end_date=soon)
                changed.set()
                release.wait(10)
        finally:
            connection.close()

    errors = []

    def run():
        try:
            framework_run()
        except Exception as error:
            errors.append(error)
        finally:
            finished.set()
            connection.close()

    changer = threading.Thread(target=change)
    changer.start()
    assert changed.wait(10)
    runner = threading.Thread(target=run)
    runner.start()
    finished.wait(2)  # the run reaches the client's mark (and waits for it, when it was there before)
    release.set()
    changer.join(10)
    runner.join(30)
    assert errors == []
    opened = Alert.objects.filter(
        client=client, alert_type__key="fixed_rate_ending", segment="fixed_rate_within_14_days", status="open"
    ).exists()
    assert opened or client.pk in changed_clients()
    if named_before:
        assert opened  # the run waited for the change and read it


def test_a_whole_book_run_takes_off_the_marks_of_clients_that_are_gone(book):
    framework_run()
    gone = Client.objects.order_by("-pk").first().pk
    Client.objects.filter(pk=gone).delete()
    assert gone in changed_clients()  # its rows' triggers named it on the way out
    framework_run()
    assert changed_clients() == set()
