"""Nyström preconditioner with uniformly random inducing columns."""

import torch

from .base import NystromPreconditioner, nystrom_factor

__all__ = ["RandomNystrom"]


class RandomNystrom(NystromPreconditioner):
    """k columns drawn uniformly without replacement."""

    name = "random"

    def _factor(self, op, rng):
        idx = torch.as_tensor(rng.choice(op.shape[0], self.rank, replace=False))
        self.columns_ = idx
        return nystrom_factor(op.columns(idx, with_lam=False), idx)
