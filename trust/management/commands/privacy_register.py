from pathlib import Path

from django.core.management.base import BaseCommand

from trust.privacy_export import register_csv, register_markdown


class Command(BaseCommand):
    help = "Write the register of processing (GDPR art. 30), generated from trust/privacy_register.py."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["markdown", "csv"], default="markdown")
        parser.add_argument("--output", help="a file to write; standard output when left out")

    def handle(self, *args, **options):
        text = register_csv() if options["format"] == "csv" else register_markdown()
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"written to {options['output']}")
        else:
            self.stdout.write(text, ending="")
