"""Fixtures of the framework tests: client files built from the unified view's factories."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enrichment.models import ClientFacts
from framework.models import FrameworkVersion


def facts_for(client, **values) -> ClientFacts:
    """The client's derived values as enrichment would store them (only what a test needs)."""
    return ClientFacts.objects.create(client=client, **values)


def days_from_today(days: int):
    return timezone.localdate() + timedelta(days=days)


@pytest.fixture
def default_framework(db) -> FrameworkVersion:
    """The framework shipped by the data migration, active in a fresh database."""
    return FrameworkVersion.objects.get(name="Default framework")
