"""An audit hook (PEP 578) that catches code doing more than computing a value.

Rule expressions and message templates are text written by users. Evaluating them must never open
a file, start a process, open a socket, import a module or compile and run code. `no_side_effects()`
arms a hook for the current thread; any such audit event inside it is recorded and refused (the
hook raises, so the action does not happen). The hook cannot be removed once added, so it is
installed once per process and acts only while armed.
"""

import gc
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager

# Audit events (https://docs.python.org/3/library/audit_events.html) that mean code is doing more
# than computing a value.
FORBIDDEN_EVENTS = (
    "open",
    "exec",
    "compile",
    "import",
    "subprocess",
    "os.",
    "shutil",
    "socket",
    "ctypes",
    "pickle",
    "marshal",
    "urllib",
    "http",
    "ftplib",
    "smtplib",
    "webbrowser",
    "sqlite3",
    "code.",
    "cpython.run_",
    "builtins.input",
    "object.__getattr__",  # reaching into a function's or frame's internals
    "sys._getframe",
)
_guard = threading.local()


# The typing machinery reads its caller's frame when it builds a generic alias its cache has
# dropped (typing_extensions' `_collect_parameters`): Jinja's compiler annotates an inner function
# with one on every compile. The frame asked for is typing's own, never the template's.
_TYPING_FILES = ("typing.py", "typing_extensions.py")


def _typing_internals(event: str, args) -> bool:
    frame = args[0] if event == "sys._getframe" and args else None
    return frame is not None and frame.f_code.co_filename.endswith(_TYPING_FILES)


def _audit(event: str, args) -> None:
    if not getattr(_guard, "armed", False) or not event.startswith(FORBIDDEN_EVENTS):
        return
    if _typing_internals(event, args):
        return
    if _guard.allow is not None and _guard.allow(event, args):
        return
    _guard.events.append(event)
    raise RuntimeError(f"forbidden audit event while evaluating user-written text: {event}")


if not getattr(sys, "_steward_audit_hook", False):
    sys.addaudithook(_audit)
    sys._steward_audit_hook = True


@contextmanager
def no_side_effects(*, allow: Callable[[str, tuple], bool] | None = None):
    """Arm the hook in this thread; yields the list of refused events (empty when all went well).

    `allow(event, args)` may let through events a trusted engine causes itself, judged by their
    arguments (Jinja compiling code under its template's file name), never a whole kind of event.
    """
    # No trace function while armed: Hypothesis traces a failing test to explain it, and its tracer
    # reading frames would be refused, even on the line that disarms, leaving the hook armed for
    # pytest's report of the failure; the whole session then crashed instead of showing the finding.
    tracer = sys.gettrace()
    sys.settrace(None)
    _guard.armed, _guard.events, _guard.allow = True, [], allow
    try:
        yield _guard.events
    finally:
        _guard.armed = False
        sys.settrace(tracer)


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while one input is timed: a collection of what earlier
    tests left behind (a long soak run, the API fuzzing) is not the input's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
