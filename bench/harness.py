"""What the micro-benchmarks (bench_nn.py, bench_ragged.py, bench_projection.py) share: glibc's
allocator tuning and the head of a printed table."""

from __future__ import annotations

import ctypes


def tune_malloc() -> None:
    """Raise glibc's mmap and trim thresholds to 1 GiB, so that large tensors are not returned to
    the system (and faulted in again) between calls."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def print_head(header: str, title: str | None = None) -> None:
    """A table's title (after a blank line), its header and a rule as wide as the header."""
    if title is not None:
        print(f"\n{title}")
    print(header)
    print("-" * len(header))
