"""Serve the demo's fake CRM and advisory tool until stopped, so "Sync now" works in the demo."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from ingestion.demo import ADVISORY_PORT, CRM_PORT, DEMO_DATA_FILE, demo_servers


class Command(BaseCommand):
    help = "Serve the fake HubSpot CRM and advisory tool with the demo's data (written by setup_demo)."

    def handle(self, *args, **options):
        if not DEMO_DATA_FILE.exists():
            raise CommandError(f"{DEMO_DATA_FILE.name} is missing: run `python manage.py setup_demo` first.")
        servers = demo_servers(json.loads(DEMO_DATA_FILE.read_text()))
        try:
            for server in servers:
                server.start()
        except OSError as error:
            raise CommandError(
                f"Ports {CRM_PORT}/{ADVISORY_PORT} are taken ({error}); is a demo already running?"
            ) from error
        self.stdout.write(f"Demo sources: fake HubSpot on :{CRM_PORT}, fake advisory tool on :{ADVISORY_PORT}.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            for server in servers:
                server.stop()
