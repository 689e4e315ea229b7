"""Providers are plugins: one module each, found and ordered by the registry, filling every fact."""

from datetime import timedelta

import pytest

from enrichment.models import ClientFacts
from enrichment.providers import Provider, RegistryError, order_providers, registry


def test_every_fact_is_derived_by_exactly_one_provider():
    fields = {f.name for f in ClientFacts._meta.get_fields() if f.concrete} - {
        "client",
        "unknown",
        "provenance",
        "computed_at",
    }
    outputs = [output for provider in registry() for output in provider.outputs]
    assert sorted(outputs) == sorted(fields)


def test_a_provider_runs_after_those_whose_facts_it_reads():
    order = [provider.key for provider in registry()]
    for provider in registry():
        for fact in provider.fact_inputs:
            producer = next(p for p in registry() if fact in p.outputs)
            assert order.index(producer.key) < order.index(provider.key)


def test_each_provider_declares_inputs_outputs_and_maximum_staleness():
    for provider in registry():
        assert provider.inputs and provider.outputs and provider.max_staleness > timedelta(0)


def fake(key, outputs, inputs=()):
    return Provider(key=key, label=key, inputs=inputs, outputs=outputs, max_staleness=timedelta(days=1), compute=None)


@pytest.mark.parametrize(
    "providers",
    [
        [fake("a", ("age",)), fake("b", ("age",))],  # a fact derived twice
        [fake("a", ("shoe_size",))],  # not a fact
        [fake("a", ("age",), inputs=("facts.loan_to_value",))],  # nobody derives the input
        [fake("a", ("age",), ("facts.has_partner",)), fake("b", ("has_partner",), ("facts.age",))],  # a cycle
    ],
)
def test_bad_declarations_are_refused(providers):
    with pytest.raises(RegistryError):
        order_providers(providers)
