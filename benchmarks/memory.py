"""Resident memory of this process, and its peak over a stretch of work.

Linux keeps a process's peak resident set size (VmHWM in /proc/self/status) and lets the process
reset it (writing 5 to /proc/self/clear_refs). So the peak of one stretch of work is measured by
resetting before it and reading after it, with no sampling thread that could miss a spike. Where
the reset is not allowed, the peak since the process started is reported instead
(`resource.getrusage`), which is why scenarios run in processes of their own.
"""

import re
import resource
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(name: str) -> int | None:
    try:
        match = re.search(rf"^{name}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mb() -> float:
    """The resident set size now, in MiB."""
    kb = _status_kb("VmRSS")
    return round((kb or 0) / 1024, 1)


def peak_reset() -> bool:
    """Start measuring a new peak from the current RSS; False when the kernel does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_mb() -> float:
    """The peak resident set size since the last reset (or since the process started), in MiB."""
    kb = _status_kb("VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return round(kb / 1024, 1)
