"""What the source commands share (a module with a leading underscore is no command of its own)."""

from django.core.management.base import CommandError

from ingestion.models import Source


def source_named(key: str) -> Source:
    """The source with this key, or a CommandError that lists the keys there are."""
    try:
        return Source.objects.get(key=key)
    except Source.DoesNotExist as error:
        known = ", ".join(Source.objects.values_list("key", flat=True)) or "none"
        raise CommandError(f"No source {key!r}. Known sources: {known}.") from error
