"""Truncated eigendecomposition preconditioner: the optimal rank-k approximation (dense, small n only)."""

import torch

from .base import NystromPreconditioner

__all__ = ["SVDNystrom"]


class SVDNystrom(NystromPreconditioner):
    """Top-k eigenpairs of the dense kernel; needs ``op.to_dense()`` (O(n^2) memory, O(n^3) time).

    ``factor_dtype``: see :class:`~gdmlkit.preconditioners.NystromPreconditioner`.
    """

    name = "svd"

    def __init__(self, rank, random_state=None, max_n=40000, factor_dtype="float64"):
        super().__init__(rank, random_state, factor_dtype)
        self.max_n = max_n

    def _factor(self, op, rng):
        n = op.shape[0]
        if n > self.max_n:
            raise ValueError(f"The SVD preconditioner forms the dense kernel; n == {n} exceeds max_n == "
                             f"{self.max_n}. Use 'cholesky', 'leverage' or 'random' for large problems.")
        K = torch.as_tensor(op.to_dense(), device=op.device)
        K.diagonal().sub_(op.lam)
        evals, evecs = torch.linalg.eigh(K)
        top = evals[-self.rank:].clamp(min=0)
        return evecs[op.local_rows, -self.rank:] * top.sqrt()
