"""Nyström preconditioner with uniformly random inducing columns."""

import torch

from .base import NystromPreconditioner, NystromRows, whole_geometries

__all__ = ["RandomNystrom"]


class RandomNystrom(NystromPreconditioner):
    """k columns drawn uniformly without replacement.

    Parameters
    ----------
    rank : int
    random_state : int, optional
    by_geometry : bool, default False
        Draw whole geometries (all their components) instead of single columns.
        Kernel columns are computed a geometry block at a time, so this makes the
        build up to 3N times cheaper for the same k.
    factor_dtype : {'float64', 'float32'}
        See :class:`~gdmlkit.preconditioners.NystromPreconditioner`.
    """

    name = "random"
    estimator_options = {"by_geometry": True}

    def __init__(self, rank, random_state=None, by_geometry=False, factor_dtype="float64"):
        super().__init__(rank, random_state, factor_dtype)
        self.by_geometry = by_geometry

    def _factor(self, op, rng):
        n = op.shape[0]
        if self.by_geometry:
            idx = whole_geometries(rng.permutation(op.n_train), op.block_size, self.rank)
        else:
            idx = rng.choice(n, self.rank, replace=False)
        self.columns_ = torch.as_tensor(idx)
        return NystromRows(op, idx)
