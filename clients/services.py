"""Writes to the unified client view that staff make through Steward."""

from django.db import transaction

from .models import Client, ClientPageView


@transaction.atomic
def client_page_view_record(*, client: Client, user) -> ClientPageView:
    """Record that `user` opened `client`'s file: staff must be able to account for every look."""
    return ClientPageView.objects.create(client=client, user=user)
