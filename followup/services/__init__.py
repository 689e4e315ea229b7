"""Follow-up's writes: playbooks (playbooks.py), planning (planning.py), sending (sending.py), the
client's responses (responses.py)."""
