"""Load the reference tables shipped in enrichment/data/: `load_reference_data [--replace]`."""

from django.core.management.base import BaseCommand

from enrichment.services.reference import reference_data_ensure


class Command(BaseCommand):
    help = "Load the postcode areas and the house price index from enrichment/data/ into empty tables."

    def add_arguments(self, parser):
        parser.add_argument("--replace", action="store_true", help="replace tables that already hold data")

    def handle(self, *args, replace, **options):
        loaded = reference_data_ensure(replace=replace)
        for dataset in loaded:
            self.stdout.write(f"{dataset.get_kind_display()}: {dataset.rows} rows from {dataset.file_name}")
        if not loaded:
            self.stdout.write("Nothing to load: the tables hold data (use --replace).")
