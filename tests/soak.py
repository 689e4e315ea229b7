"""How hard the attack-surface tests push: a bounded run in `make test`, a long one in `make soak`.

`make soak` sets STEWARD_SOAK=1; the property-based tests then generate ten times (or more) the
inputs. CI runs only the bounded variant, so the whole suite stays well under its time budget.
"""

import os

SOAK = os.environ.get("STEWARD_SOAK", "").lower() in ("1", "true", "yes")


def examples(fast: int, soak: int) -> int:
    """The number of generated inputs for this run."""
    return soak if SOAK else fast
