"""Nyström preconditioner with columns sampled by approximate ridge leverage scores."""

import torch

from .base import NystromPreconditioner, nystrom_factor

__all__ = ["LeverageNystrom"]


class LeverageNystrom(NystromPreconditioner):
    """Columns sampled with probability proportional to approximate ridge leverage scores.

    Scores l_i = [K (K + mu I)^-1]_ii are estimated from a uniform Nyström sketch with
    `rank` columns (l_i ≈ [B (B^T B + mu I)^-1 B^T]_ii); then `rank` columns are drawn
    without replacement with probabilities ∝ l_i. The ridge mu is the operator's lam,
    floored at ``ridge_floor * trace(K)/n`` so that near-singular kernels still give
    informative scores.
    """

    name = "leverage"

    def __init__(self, rank, random_state=None, ridge_floor=1e-6):
        super().__init__(rank, random_state)
        self.ridge_floor = ridge_floor

    def _factor(self, op, rng):
        n = op.shape[0]
        diag = op.diagonal(with_lam=False)
        mu = max(float(op.lam), self.ridge_floor * float(diag.sum()) / n)
        pilot = torch.as_tensor(rng.choice(n, self.rank, replace=False))
        B = nystrom_factor(op.columns(pilot, with_lam=False), pilot)
        k = B.shape[1]
        M = B.T @ B + mu * torch.eye(k, dtype=B.dtype)
        scores = (B * torch.linalg.solve(M, B.T).T).sum(1).clamp(min=0) + 1e-12
        self.scores_ = scores
        idx = torch.as_tensor(rng.choice(n, self.rank, replace=False, p=(scores / scores.sum()).numpy()))
        self.columns_ = idx
        return nystrom_factor(op.columns(idx, with_lam=False), idx)
