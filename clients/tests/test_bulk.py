"""The fast bulk UPDATE writes exactly what Django's bulk_update would, for every kind of field."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients.bulk import bulk_update_rows, ids_reserve
from clients.models import Client, LoanPart

from .factories import ClientFactory, LoanPartFactory

pytestmark = pytest.mark.django_db


def test_every_kind_of_field_round_trips():
    clients = [ClientFactory(household=None) for _ in range(3)]
    changed_at = timezone.now() - timedelta(days=3)
    for index, client in enumerate(clients):
        client.first_name = f"Zoë {index}"
        client.birth_date = None if index == 0 else date(1970 + index, 2, 28)
        client.provenance = {"email": {"source": "crm", "record": str(index)}}
        client.source_changed_at = changed_at
        client.bsn = "111222333" if index == 1 else None
    bulk_update_rows(Client, clients, ["first_name", "birth_date", "provenance", "source_changed_at", "bsn"])
    for index, client in enumerate(Client.objects.order_by("pk")):
        assert client.first_name == f"Zoë {index}"
        assert client.birth_date == (None if index == 0 else date(1970 + index, 2, 28))
        assert client.provenance == {"email": {"source": "crm", "record": str(index)}}
        assert client.source_changed_at == changed_at
        assert client.bsn == ("111222333" if index == 1 else None)


def test_decimals_and_booleans_round_trip_in_few_statements():
    parts = [LoanPartFactory() for _ in range(4)]
    for index, part in enumerate(parts):
        part.outstanding_balance = Decimal("1234.56") + index
        part.interest_rate = None if index == 2 else Decimal("4.125")
    with CaptureQueriesContext(connection) as queries:
        bulk_update_rows(LoanPart, parts, ["outstanding_balance", "interest_rate"])
    assert len(queries) == 1
    stored = list(LoanPart.objects.order_by("pk").values_list("outstanding_balance", "interest_rate"))
    assert stored == [(Decimal("1234.56") + i, None if i == 2 else Decimal("4.125")) for i in range(4)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ids come from PostgreSQL's sequences")
def test_reserved_ids_are_new_and_the_next_save_takes_an_id_after_them():
    before = ClientFactory(household=None)
    reserved = ids_reserve(Client, 5)
    after = ClientFactory(household=None)
    assert len(set(reserved)) == 5
    assert before.pk < min(reserved) and max(reserved) < after.pk
