"""Shared test configuration: hypothesis profiles and dtype fixtures.

Profiles (choose with HYPOTHESIS_PROFILE): ``dev`` (default, quick), ``ci`` (derandomised,
used by .ci/run), ``soak`` (long local runs).
"""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=25, **_common)
settings.register_profile("ci", max_examples=40, derandomize=True, print_blob=True, **_common)
settings.register_profile("soak", max_examples=1000, **_common)  # every file well under 10 minutes
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Bounds on the max-abs-scaled error max|y − y_ref| / max|y_ref| of the float paths, by dtype
#: (docs/limits.md §2).
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def float_dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _default_memory_budget():
    """Every test starts and ends with the default memory budget, so a test that lowers it to
    provoke AllocationTooLarge cannot leak the low budget into the next test on its worker."""
    from catlayer.memory import set_memory_budget

    set_memory_budget(None)
    yield
    set_memory_budget(None)
