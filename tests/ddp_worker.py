"""One process of tests/test_nn_networks_torch.py::test_ddp_matches_single_process.

Run as ``python -m tests.ddp_worker KIND RANK OUT`` with MASTER_ADDR / MASTER_PORT set: trains the
model of :func:`model_and_data` (KIND "o3": an O(3) network; "sets": a network of ``S() * O(3)``
on padded point clouds with a mask) under DistributedDataParallel (gloo, world size 2) on this
rank's half of the global batch and, on rank 0, saves the final parameters to OUT. For "sets",
each rank crops its half to its own largest cloud, so the two processes run at different N.
"""

import sys

import torch

KINDS = ("o3", "sets")


def model_and_data(kind: str):
    """The same model (seeded) and global batch in every process and in the single-process run:
    (model, features, targets, mask or None)."""
    from catlayer import O, S
    from catlayer.nn import EquivariantMLP

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    f64 = {"generator": generator, "dtype": torch.float64}
    if kind == "o3":
        model = EquivariantMLP(
            O(3), {0: 2, 1: 2}, {0: 1, 2: 1}, depth=1, hidden={0: 8, 1: 4, 2: 4}, dtype=torch.float64
        )
        x = {0: torch.randn(8, 2, **f64), 1: torch.randn(8, 2, 3, **f64)}
        y = {0: torch.randn(8, 1, **f64), 2: torch.randn(8, 1, 3, 3, **f64)}
        return model, x, y, None
    hidden = {(0, 0): 8, (0, 1): 4, (1, 0): 4, (1, 1): 4}
    model = EquivariantMLP(S() * O(3), {(1, 1): 1}, {(0, 0): 1, (0, 1): 1}, depth=1, hidden=hidden, dtype=torch.float64)
    sizes = torch.tensor([3, 5, 2, 4, 7, 6, 9, 8])  # rank 0 pads to 5 points, rank 1 to 9
    mask = torch.arange(9) < sizes[:, None]
    x = {(1, 1): torch.randn(8, 1, 9, 3, **f64) * mask[:, None, :, None]}
    y = {(0, 0): torch.randn(8, 1, **f64), (0, 1): torch.randn(8, 1, 3, **f64)}
    return model, x, y, mask


def train(module, x, y, mask=None, steps: int = 3) -> None:
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(steps):
        out = module(x) if mask is None else module(x, mask)
        loss = sum((out[k] - y[k]).square().mean() for k in y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def main(kind: str, rank: int, path: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    model, x, y, mask = model_and_data(kind)
    half = slice(4 * rank, 4 * rank + 4)  # equal halves: the mean of the local means is the global mean
    x, y = {k: v[half] for k, v in x.items()}, {k: v[half] for k, v in y.items()}
    if mask is not None:
        mask = mask[half]
        n = int(mask.sum(1).max())  # this rank's own padded size
        mask, x = mask[:, :n], {k: v[:, :, :n] for k, v in x.items()}
    train(DistributedDataParallel(model), x, y, mask)
    if rank == 0:
        torch.save(model.state_dict(), path)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
