"""One process of tests/test_nn_networks_torch.py::test_ddp_matches_single_process.

Run as ``python -m tests.ddp_worker RANK OUT`` with MASTER_ADDR / MASTER_PORT set: trains the
model of :func:`train` under DistributedDataParallel (gloo, world size 2) on this rank's half of
the global batch and, on rank 0, saves the final parameters to OUT.
"""

import sys

import torch


def model_and_data():
    """The same model (seeded) and global batch in every process and in the single-process run."""
    from catlayer import O
    from catlayer.nn import EquivariantMLP

    torch.manual_seed(0)
    model = EquivariantMLP(O(3), {0: 2, 1: 2}, {0: 1, 2: 1}, depth=1, hidden={0: 8, 1: 4, 2: 4}, dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    x = {
        0: torch.randn(8, 2, generator=generator, dtype=torch.float64),
        1: torch.randn(8, 2, 3, generator=generator, dtype=torch.float64),
    }
    y = {
        0: torch.randn(8, 1, generator=generator, dtype=torch.float64),
        2: torch.randn(8, 1, 3, 3, generator=generator, dtype=torch.float64),
    }
    return model, x, y


def train(module, x, y, steps: int = 3) -> None:
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(steps):
        out = module(x)
        loss = sum((out[k] - y[k]).square().mean() for k in y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def main(rank: int, path: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model, x, y = model_and_data()
    half = slice(4 * rank, 4 * rank + 4)  # equal halves: the mean of the local means is the global mean
    train(DistributedDataParallel(model), {k: v[half] for k, v in x.items()}, {k: v[half] for k, v in y.items()})
    if rank == 0:
        torch.save(model.state_dict(), path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
