"""python manage.py evaluate_framework: apply the active framework to the whole book now."""

import time

from django.core.management.base import BaseCommand

from alerts.evaluation import framework_run
from framework.selectors import framework_version_active


class Command(BaseCommand):
    help = "Evaluate the active advisory framework over every client and print alerts opened, kept and closed per rule."

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int, action="append", help="only this client (repeatable)")
        parser.add_argument(
            "--everyone",
            action="store_true",
            help="evaluate every client, also those whose file did not change and whose date horizon is ahead",
        )

    def handle(self, *args, client=None, everyone=False, **options):
        version = framework_version_active()
        if version is None:
            self.stdout.write(self.style.WARNING("No active framework version: nothing to evaluate."))
            return
        started = time.perf_counter()
        summary = framework_run(client_ids=set(client) if client else None, version=version, everyone=everyone)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Framework {version.name!r}: {summary.clients} clients in {summary.chunks} chunks, {seconds:.1f} s"
            + (f" ({summary.skipped} unchanged, skipped)" if summary.skipped else "")
        )
        self.stdout.write(f"{'rule':<36} {'opened':>8} {'kept':>8} {'closed':>8} {'suppressed':>10}")
        for rule_key, counter in sorted(summary.counts.by_type.items()):
            opened, kept, closed, suppressed = (counter[name] for name in ("opened", "kept", "closed", "suppressed"))
            self.stdout.write(f"{rule_key:<36} {opened:>8} {kept:>8} {closed:>8} {suppressed:>10}")
        counts = summary.counts
        self.stdout.write(
            f"{'total':<36} {counts.opened:>8} {counts.kept:>8} {counts.closed:>8} {counts.suppressed:>10}"
        )
