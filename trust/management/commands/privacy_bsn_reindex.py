from django.core.management.base import BaseCommand

from trust.privacy_bsn_services import client_bsn_indexes_rebuild


class Command(BaseCommand):
    help = "Recompute every client's BSN blind index (after STEWARD_BSN_INDEX_KEY changed, or to back-fill)."

    def handle(self, *args, **options):
        self.stdout.write(f"{client_bsn_indexes_rebuild()} clients re-indexed")
