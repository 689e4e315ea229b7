"""Writes around the BSN's blind index (the pure functions are in trust/privacy_bsn.py)."""

from django.db import transaction

from clients.bulk import rows_update
from clients.models import Client

from .privacy_bsn import bsn_blind_index

BATCH = 2000


@transaction.atomic
def client_bsn_indexes_rebuild() -> int:
    """Recompute the blind index of every client with a BSN, in batches (after a key change).

    Decrypting is per row by nature (each BSN has its own ciphertext); writes go in bulk.
    """
    changed = 0
    batch: list[dict] = []
    for client_id, bsn, current in (
        Client.objects.exclude(bsn=None).values_list("pk", "bsn", "bsn_blind_index").iterator(chunk_size=BATCH)
    ):
        index = bsn_blind_index(bsn)
        if index != current:
            batch.append({"id": client_id, "bsn_blind_index": index})
        if len(batch) >= BATCH:
            rows_update(Client, batch, ["bsn_blind_index"])
            changed += len(batch)
            batch = []
    if batch:
        rows_update(Client, batch, ["bsn_blind_index"])
        changed += len(batch)
    return changed
