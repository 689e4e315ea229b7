"""The Dutch translation is complete and compiled: every string the UI shows has a Dutch version."""

import gettext
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "nl" / "LC_MESSAGES"


def _catalog():
    with open(LOCALE / "django.po", "rb") as po_file:
        return read_po(po_file, locale="nl")


def test_every_dutch_entry_is_translated_and_not_fuzzy():
    untranslated = []
    for message in _catalog():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            untranslated.append(message.id)
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_source():
    with open(LOCALE / "django.mo", "rb") as mo_file:
        compiled = gettext.GNUTranslations(mo_file)
    for message in _catalog():
        if not message.id or isinstance(message.id, tuple):
            continue
        msgid = message.id if not message.context else f"{message.context}\x04{message.id}"
        assert compiled._catalog.get(msgid) == message.string, f"recompile the .mo: {message.id!r}"
