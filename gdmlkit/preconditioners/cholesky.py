"""Incomplete (pivoted) Cholesky preconditioner: greedy or randomly pivoted."""

import torch

from .base import NystromPreconditioner

__all__ = ["CholeskyNystrom"]


class CholeskyNystrom(NystromPreconditioner):
    """Partial Cholesky factor F (n, k), K ≈ F F^T, built column by column.

    Parameters
    ----------
    rank : int
    pivoting : {'greedy', 'random'}
        'greedy' takes the largest residual diagonal entry (classic incomplete
        Cholesky); 'random' samples pivots ∝ residual diagonal (RPCholesky, Chen,
        Epperly, Tropp, Webber 2023), in blocks of `block` pivots.
    block : int
        Pivots chosen per step (columns are evaluated a block at a time).
    random_state : int, optional
    factor_dtype : {'float64', 'float32'}
        Storage of the final factor (see :class:`~gdmlkit.preconditioners.NystromPreconditioner`);
        the build itself holds an n x k float64 array.

    The result equals the Nyström approximation on the chosen pivots.
    """

    name = "cholesky"

    def __init__(self, rank, random_state=None, pivoting="greedy", block=1, factor_dtype="float64"):
        super().__init__(rank, random_state, factor_dtype)
        self.pivoting = pivoting
        self.block = block

    def _factor(self, op, rng):
        if self.pivoting not in ("greedy", "random"):
            raise ValueError(f"Unknown pivoting {self.pivoting!r}; expected 'greedy' or 'random'.")
        n = op.shape[0]
        d = op.diagonal(with_lam=False).clone()
        F = torch.zeros(n, self.rank, dtype=torch.float64)
        piv = []
        k = 0
        while k < self.rank:
            b = min(self.block, self.rank - k)
            res = d.clamp(min=0)
            if float(res.sum()) <= 0:
                break
            if self.pivoting == "greedy":
                cand = torch.topk(res, b).indices
            else:
                cand = torch.as_tensor(rng.choice(n, b, replace=False, p=(res / res.sum()).numpy()))
            G = op.columns(cand, with_lam=False) - F[:, :k] @ F[cand, :k].T  # residual columns (n, b)
            for t in range(b):  # Cholesky of the block, dropping pivots that became negligible
                i = int(cand[t])
                piv_val = float(G[i, t])
                if piv_val <= 1e-12 * float(d.max()):
                    continue
                col = G[:, t] / piv_val**0.5
                F[:, k] = col
                G[:, t + 1:] -= col[:, None] * col[cand[t + 1:]][None, :]
                d -= col**2
                piv.append(i)
                k += 1
        self.columns_ = torch.as_tensor(piv)
        return F[:, :k]
