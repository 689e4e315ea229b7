"""The bulk refresh is set-based: its query count does not grow with the number of clients.

A chunk of clients (up to CHUNK_SIZE, 10,000) costs the same fixed number of queries whatever its
size: each provider's few set-based queries plus one upsert statement. A run over N clients therefore
costs ceil(N / CHUNK_SIZE) times that: 100,000 clients are 10 chunks, not 100,000 queries. These tests
pin both halves: equal counts for 50 and 500 clients, and a count that follows the chunks.
"""

from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clients.generation import books_ensure, clients_generate, generated_clients
from clients.models import Client
from enrichment.models import ClientFacts
from enrichment.providers import PROVIDER_FAILED, Derived, registry
from enrichment.services import facts, facts_refresh

pytestmark = pytest.mark.django_db


def generated(count: int) -> list[int]:
    clients_generate(count=count, seed=7, books=books_ensure())
    return list(generated_clients(7).order_by("id").values_list("id", flat=True))


@pytest.fixture
def book(db):
    return generated(120)


def count_queries(**kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        facts_refresh(**kwargs)
    return len(captured)


def test_fifty_and_five_hundred_clients_cost_the_same_number_of_queries(db):
    book = generated(550)
    small, large = count_queries(client_ids=book[:50]), count_queries(client_ids=book[50:550])
    assert small == large
    assert ClientFacts.objects.count() == 550


def test_the_whole_book_costs_the_same_per_chunk(book):
    one_chunk = count_queries()
    assert ClientFacts.objects.count() == Client.objects.filter(deleted_at__isnull=True).count()
    # Chunks of 40 clients: three chunks (120 clients) instead of one, and of 60: two.
    three_chunks, two_chunks = count_queries(chunk_size=40), count_queries(chunk_size=60)
    per_chunk = three_chunks - two_chunks
    assert two_chunks == one_chunk + per_chunk
    assert per_chunk < 60  # a handful of queries per provider, whatever the chunk holds


def test_one_clients_failure_does_not_stop_the_batch(book, monkeypatch):
    broken_client = book[77]
    age = next(provider for provider in registry() if provider.key == "age")

    def fails_for_one_client(batch):
        if broken_client in batch.client_ids:
            raise ZeroDivisionError("bad data")
        return age.compute(batch)

    providers = tuple(replace(p, compute=fails_for_one_client) if p.key == "age" else p for p in registry())
    monkeypatch.setattr(facts, "registry", lambda: providers)
    report = facts_refresh()

    assert report.failures == {"age": 1}
    broken = ClientFacts.objects.get(client_id=broken_client)
    assert broken.age is None
    assert broken.unknown["age"] == PROVIDER_FAILED
    assert broken.state_pension_date is not None  # other providers went on for this client
    others = ClientFacts.objects.exclude(client_id=broken_client)
    assert others.count() == len(book) - 1
    assert others.filter(age__isnull=False).count() == others.exclude(client__birth_date=None).count()


def test_a_provider_that_fails_for_everyone_is_not_run_per_client(book, monkeypatch):
    calls = []

    def always_fails(batch):
        calls.append(len(batch.client_ids))
        raise RuntimeError("the reference service is down")

    providers = tuple(replace(p, compute=always_fails) if p.key == "relationship" else p for p in registry())
    monkeypatch.setattr(facts, "registry", lambda: providers)
    report = facts_refresh()
    assert report.failures == {"relationship": len(book)}
    assert len(calls) <= facts.ISOLATION_BUDGET + 1
    facts_row = ClientFacts.objects.get(client_id=book[0])
    assert facts_row.days_since_last_contact is None
    assert facts_row.unknown["days_since_last_contact"] == PROVIDER_FAILED
    assert facts_row.unknown["open_complaints_over_30_days"] == PROVIDER_FAILED  # 0 stored, marked unknown
    assert facts_row.age is not None


def test_a_provider_returning_other_facts_than_declared_is_treated_as_failed(book, monkeypatch):
    def wrong_shape(batch):
        return Derived(batch.index, ("age", "gross_income"))

    providers = tuple(replace(p, compute=wrong_shape) if p.key == "age" else p for p in registry())
    monkeypatch.setattr(facts, "registry", lambda: providers)
    report = facts_refresh(client_ids=book[:10])
    assert report.failures == {"age": 10}
