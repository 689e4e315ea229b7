"""On PostgreSQL the application cannot rewrite the audit trail: every history table refuses UPDATE,
DELETE and TRUNCATE through the application's own connection; only the documented erasure path
(`audit_erasure_allowed`, for the privacy step) may remove rows."""

import pytest
from django.db import DatabaseError, connection, transaction

from clients.models import Client
from clients.tests.factories import ClientFactory
from trust.audit import TRUNCATE_SETTING, audit_erasure_allowed, audit_tables, history_model_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

REFUSED = "the audit trail cannot be changed"


@pytest.fixture
def recorded_client():
    client = ClientFactory(first_name="Sanne")
    client.first_name = "Susanne"
    client.save()
    return client


def client_history():
    return history_model_of(Client).objects


def test_the_application_cannot_update_an_audit_row(recorded_client):
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        client_history().filter(id=recorded_client.pk).update(first_name="Forged")
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {history_model_of(Client)._meta.db_table} SET history_user_id = 1")
    assert set(client_history().filter(id=recorded_client.pk).values_list("first_name", flat=True)) == {
        "Sanne",
        "Susanne",
    }


def test_the_application_cannot_delete_an_audit_row(recorded_client):
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        client_history().filter(id=recorded_client.pk).delete()
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {history_model_of(Client)._meta.db_table}")
    assert client_history().filter(id=recorded_client.pk).count() == 2


def test_the_application_cannot_empty_an_audit_table(recorded_client):
    table = history_model_of(Client)._meta.db_table
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic(), connection.cursor() as cursor:
        # The test database's sessions may TRUNCATE (Django empties tables between browser tests);
        # production's never set this, as here.
        cursor.execute("SELECT set_config(%s, 'off', true)", [TRUNCATE_SETTING])
        cursor.execute(f"TRUNCATE {table}")
    assert client_history().count() >= 2


def test_deleting_client_data_still_works_and_is_recorded(recorded_client):
    client_id = recorded_client.pk
    recorded_client.delete()
    assert list(client_history().filter(id=client_id).values_list("history_type", flat=True)) == [
        "-",
        "~",
        "+",
    ]


def test_every_history_table_is_protected():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname IN ('trust_audit_immutable', 'trust_audit_no_truncate')"
        )
        triggers = set(cursor.fetchall())
    tables = audit_tables()
    assert len(tables) > 30  # clients, framework, canvas, follow-up, users, groups and their m2m
    missing = [
        (table, trigger)
        for table in tables
        for trigger in ("trust_audit_immutable", "trust_audit_no_truncate")
        if (table, trigger) not in triggers
    ]
    assert missing == []


def test_only_the_erasure_path_may_remove_audit_rows_and_only_inside_its_block(recorded_client):
    with transaction.atomic():
        with audit_erasure_allowed(reason="test: erasure of client on request"):
            deleted, _ = client_history().filter(id=recorded_client.pk).delete()
        assert deleted == 2
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            ClientFactory()  # a new client's history row...
            client_history().all().delete()  # ...cannot be deleted once the block is left
