"""Nyström preconditioner with columns sampled by approximate ridge leverage scores."""

import torch

from .base import NystromPreconditioner, NystromRows, _TensorRows

__all__ = ["LeverageNystrom"]


class LeverageNystrom(NystromPreconditioner):
    """Columns sampled with probability proportional to approximate ridge leverage scores.

    Scores l_i = [K (K + mu I)^-1]_ii are estimated from a uniform Nyström sketch with
    `rank` columns (l_i ≈ [B (B^T B + mu I)^-1 B^T]_ii); then `rank` columns are drawn
    without replacement with probabilities ∝ l_i. The ridge mu is the operator's lam,
    floored at ``ridge_floor * trace(K)/n`` so that near-singular kernels still give
    informative scores. ``factor_dtype``: see
    :class:`~gdmlkit.preconditioners.NystromPreconditioner`.
    """

    name = "leverage"

    def __init__(self, rank, random_state=None, ridge_floor=1e-6, factor_dtype="float64"):
        super().__init__(rank, random_state, factor_dtype)
        self.ridge_floor = ridge_floor

    def _factor(self, op, rng):
        n = op.shape[0]
        diag = op.diagonal(with_lam=False)
        mu = max(float(op.lam), self.ridge_floor * float(diag.sum()) / n)
        pilot = NystromRows(op, rng.choice(n, self.rank, replace=False))
        if self.factor_dtype == "float64":  # the factor will take n x k float64 anyway: read the pilot once
            pilot = _TensorRows(pilot.materialize())
        G = pilot.gram()
        L = torch.linalg.cholesky(G + mu * torch.eye(self.rank, dtype=G.dtype, device=G.device))
        scores = torch.cat([(B * torch.cholesky_solve(B.T, L).T).sum(1)
                            for B in map(pilot.rows, pilot.blocks())]).clamp(min=0) + 1e-12
        self.scores_ = scores
        idx = rng.choice(n, self.rank, replace=False, p=(scores / scores.sum()).cpu().numpy())
        self.columns_ = torch.as_tensor(idx)
        return NystromRows(op, idx)
