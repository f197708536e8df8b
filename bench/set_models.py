"""Shared parts of the set benchmarks (bench/bench_pointclouds.py, bench/bench_particles.py):
padded batches with masks, a DeepSets baseline, error measures and the ROC AUC.

Padded batches: a batch of sets of different sizes is stored as arrays ``(B, N_max, …)`` with
a bool mask ``(B, N_max)`` (True on each sample's valid points); padded entries are zero.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

REFERENCE_SIZE = 16.0


def masks(sizes: np.ndarray, width: int) -> np.ndarray:
    """(B, width) bool: True on the first sizes[b] entries of row b."""
    return np.arange(width)[None, :] < np.asarray(sizes)[:, None]


def random_orthogonal(rng: np.random.Generator, size: int, dim: int = 3) -> np.ndarray:
    """``size`` Haar-random orthogonal matrices (rotations and reflections), (size, dim, dim)."""
    q, r = np.linalg.qr(rng.standard_normal((size, dim, dim)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def trim(batch: dict) -> dict:
    """The batch (a dict of tensors whose axis 1 is the point axis) cut to the largest valid size
    in it: less work per step, the same result (padded entries are ignored)."""
    width = int(batch["mask"].sum(1).max())
    return {k: v[:, :width] for k, v in batch.items()}


class DeepSets(nn.Module):
    """A permutation-invariant baseline that knows nothing of O(3) or O(1, 3): φ (an MLP) on each
    valid point's raw numbers, masked mean and sum / REFERENCE_SIZE over the points and
    log(n / REFERENCE_SIZE), then ρ (an MLP) to the output entries (Zaheer et al. 2017)."""

    def __init__(self, in_features: int, out_shape: tuple[int, ...], width: int = 128):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.phi = nn.Sequential(
            nn.Linear(in_features, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.rho = nn.Sequential(
            nn.Linear(2 * width + 1, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, math.prod(self.out_shape)),
        )

    def forward(self, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """points (B, N, F), mask (B, N) → (B, *out_shape)."""
        h = self.phi(points) * mask[..., None]
        n = mask.sum(1, keepdim=True).clamp(min=1).to(points.dtype)
        pooled = torch.cat([h.sum(1) / n, h.sum(1) / REFERENCE_SIZE, torch.log(n / REFERENCE_SIZE)], dim=1)
        return self.rho(pooled).reshape(-1, *self.out_shape)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rmse(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Root mean square error over samples and output entries."""
    return float((prediction - target).square().mean().sqrt())


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random
    negative (ties count one half), from the ranks (Mann–Whitney U)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    start = 0
    for stop in range(1, len(scores) + 1):
        if stop == len(scores) or sorted_scores[stop] != sorted_scores[start]:
            ranks[order[start:stop]] = (start + stop + 1) / 2
            start = stop
    positives, negatives = labels.sum(), (~labels).sum()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
