"""The demo's derived values: reference data loaded, then every client's facts derived."""

from .services import facts_refresh
from .services.reference import reference_data_ensure


def demo_facts_load(*, stdout) -> None:
    """Load the shipped postcode areas and house price index (when empty) and derive every client's facts.

    Safe to run again: reference tables already loaded are kept, and the facts are recomputed.
    """
    for dataset in reference_data_ensure():
        stdout.write(
            f"Reference data: {dataset.get_kind_display()} loaded from {dataset.file_name} ({dataset.rows} rows)."
        )
    report = facts_refresh()
    failed = ", ".join(f"{key} for {count}" for key, count in report.failures.items()) or "none"
    stdout.write(
        f"Derived values: {report.clients:,} clients in {report.seconds:.1f} s "
        f"({report.clients_per_second:,.0f} clients/s); provider failures: {failed}."
    )
