"""One torch thread for the network tests: under ``pytest -n 2`` on two cores, two workers with
two intra-op threads each oversubscribe the machine, and small ops then wait on spinning threads
(tens of times slower)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
