"""Every write of the enrichment step: derived facts, reference data, client confirmations."""

from .facts import FactsRefreshReport, facts_refresh

__all__ = ["FactsRefreshReport", "facts_refresh"]
