"""Normalised text for client search: case- and accent-insensitive substring matching."""

import unicodedata


def normalise_search_text(text: str) -> str:
    """'Zoë  van Dijk' -> 'zoe van dijk'."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_accents = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(without_accents.casefold().split())
