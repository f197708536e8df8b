"""The memory guard, re-exported from :mod:`catlayer.memory` (plain Python, shared by every layer)."""

from ..memory import AllocationTooLarge, check_size, memory_budget, set_memory_budget

__all__ = ["AllocationTooLarge", "check_size", "memory_budget", "set_memory_budget"]
