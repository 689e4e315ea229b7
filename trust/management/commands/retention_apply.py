from django.core.management.base import BaseCommand

from trust.retention import retention_apply


class Command(BaseCommand):
    help = "Delete or anonymise data past its retention period (trust/privacy_register.py); what the nightly job does."

    def handle(self, *args, **options):
        for line in retention_apply().lines():
            self.stdout.write(line)
