"""Fixtures of the enrichment tests: a small, known price index and postcode table, and a refresh helper."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from enrichment.models import ClientFacts, HousePriceIndex, PostcodeArea
from enrichment.selectors import FRESHNESS_CACHE_KEY
from enrichment.services import facts_refresh


@pytest.fixture(autouse=True)
def freshness_cache_cleared():
    """The freshness rules are cached across requests; a test's rules must not outlive its database."""
    cache.delete(FRESHNESS_CACHE_KEY)
    yield
    cache.delete(FRESHNESS_CACHE_KEY)


@pytest.fixture
def utrecht_index(db):
    """Utrecht (PV26) only: the figures of the hand-worked examples, and the postcodes 3400-3999."""
    PostcodeArea.objects.create(pc4_from=3400, pc4_to=3999, municipality="", province="Utrecht", region="PV26")
    PostcodeArea.objects.create(pc4_from=3511, pc4_to=3585, municipality="Utrecht", province="Utrecht", region="PV26")
    figures = {(2022, 2): "130.0", (2023, 1): "125.0", (2024, 4): "145.0", (2025, 3): "152.1"}
    for (year, quarter), index in figures.items():
        HousePriceIndex.objects.create(
            region="PV26", region_name="Utrecht", year=year, quarter=quarter, index=Decimal(index), basis="test"
        )


def derive(client) -> ClientFacts:
    """Refresh one client's facts and read them back."""
    facts_refresh(client_ids=[client.pk])
    return ClientFacts.objects.get(client=client)
