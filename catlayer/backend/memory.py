"""The memory guard, re-exported from :mod:`catlayer.memory` (plain Python, so that layers which
never run a numba kernel can check sizes without loading the backend)."""

from ..memory import AllocationTooLarge, check_size, memory_budget, set_memory_budget

__all__ = ["AllocationTooLarge", "check_size", "memory_budget", "set_memory_budget"]
