"""Prepare the demo: migrate, create the demo users and run every demo step. Idempotent; no server."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from accounts.services import demo_users_ensure


class Command(BaseCommand):
    help = "Migrate, create the demo users of each role and load the demo data (safe to run twice)."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        users = demo_users_ensure(password=settings.STEWARD_DEMO_PASSWORD)
        for step_path in settings.STEWARD_DEMO_STEPS:
            import_string(step_path)(stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("\nDemo ready. Log in at http://127.0.0.1:8000/ as:"))
        for user, role_label in users:
            team = f", {user.team}" if user.team else ""
            self.stdout.write(f"  {user.username:<11} {settings.STEWARD_DEMO_PASSWORD}   ({role_label}{team})")
