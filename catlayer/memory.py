"""Size guards: every allocation that grows with n is checked against a memory budget before
any heavy work, so a request that cannot fit fails at once with a message naming the size.
Plain Python (no numpy, numba or torch), so that every layer of catlayer can use it.

The budget defaults to half of the memory available when first asked (``MemAvailable`` on
Linux), and can be set with :func:`set_memory_budget` or the environment variable
``CATLAYER_MEMORY_BUDGET`` (bytes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["AllocationTooLarge", "check_size", "memory_budget", "set_memory_budget"]

_budget: int | None = None


class AllocationTooLarge(MemoryError, ValueError):
    """A requested array would not fit in the memory budget (both a MemoryError and a ValueError).

    >>> try:
    ...     check_size(2**70, "a big array")
    ... except AllocationTooLarge as error:
    ...     print(isinstance(error, MemoryError), str(error).split(" needs")[0])
    True a big array
    """


#: (time read, bytes): ``MemAvailable`` is re-read at most every this many seconds, so that a
#: guard on every forward call costs no file read.
_AVAILABLE_TTL = 1.0
_available: tuple[float, int] | None = None


def _available_bytes() -> int:
    global _available
    now = time.monotonic()
    if _available is None or now - _available[0] > _AVAILABLE_TTL:
        _available = (now, _read_available_bytes())
    return _available[1]


def _read_available_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def memory_budget() -> int:
    """The number of bytes one operation may allocate.

    >>> memory_budget() > 0
    True
    """
    if _budget is not None:
        return _budget
    env = os.environ.get("CATLAYER_MEMORY_BUDGET")
    if env:
        return int(float(env))
    return _available_bytes() // 2


def set_memory_budget(num_bytes: int | None) -> None:
    """Set the budget in bytes (``None`` restores the default: the environment variable
    ``CATLAYER_MEMORY_BUDGET``, else half the available memory).

    >>> set_memory_budget(2**20)
    >>> memory_budget()
    1048576
    >>> set_memory_budget(None)
    >>> memory_budget() > 0
    True
    """
    global _budget
    if num_bytes is not None and (isinstance(num_bytes, bool) or int(num_bytes) <= 0):
        raise ValueError(f"the memory budget must be a positive number of bytes, got {num_bytes!r}")
    _budget = None if num_bytes is None else int(num_bytes)


def _human(num_bytes: int) -> str:
    """``num_bytes`` in binary units; sizes beyond 1024 PiB as a power of two (never a float
    overflow, never thousands of digits)."""
    if num_bytes >= 1024**6:
        return f"about 2^{int(num_bytes).bit_length() - 1} B"
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def _exact(num_bytes: int) -> str:
    return f" ({num_bytes} bytes)" if num_bytes < 10**18 else ""


def check_size(num_bytes: int, what: str | Callable[[], str], budget: int | None = None) -> None:
    """Raise :class:`AllocationTooLarge` if ``num_bytes`` exceeds the budget. ``what`` names
    the allocation; a callable is only called to build the message.

    >>> check_size(10**30, "a dense 10^15 x 10^15 matrix")
    Traceback (most recent call last):
    ...
    catlayer.memory.AllocationTooLarge: a dense 10^15 x 10^15 matrix needs about 2^99 B, ...
    """
    limit = memory_budget() if budget is None else budget
    if num_bytes > limit:
        what = what() if callable(what) else what
        raise AllocationTooLarge(
            f"{what} needs {_human(num_bytes)}{_exact(num_bytes)}, more than the memory budget of "
            f"{_human(limit)}; raise it with catlayer.memory.set_memory_budget() or "
            "CATLAYER_MEMORY_BUDGET if you really mean it"
        )
