"""One process's shard of the lazy Hessian-kernel operator.

Process r holds a contiguous block of training geometries: its rows of (K + lam I), of
every PCG vector and of the preconditioner's factor. A product needs the descriptor-space
coefficients u_j = J_j v_j of every geometry; each process computes those of its own
geometries and they are all-gathered (n x D numbers, small beside the n^2 pair work). Where
the permutations form a group, the tile pairs (I, J >= I) of the symmetric product are dealt
out to the processes, each sums the forward and transposed parts of its own, and the n x D
sums are all-reduced: the pair work and the coefficient cache are split K ways. Otherwise
each process sums its rows over all training points. Descriptors and Jacobian factors of
every geometry (x and g, O(n D); no dense Jacobians) are kept on every process; what grows
with n^2 or n k -- the pairwise coefficient cache and the Nyström factor -- is split.
"""

import numpy as np
import torch

from ..kernels.matern import SymmetricHessianPairs
from ..kernels.operator import HessianKernelOperator
from . import group

__all__ = ["ShardedHessianOperator"]


class ShardedHessianOperator(HessianKernelOperator):
    """:class:`~gdmlkit.kernels.HessianKernelOperator` restricted to this process's rows.

    Takes the parameters of HessianKernelOperator. ``matvec``, ``columns`` (default rows), ``diagonal``,
    ``project`` and ``lift`` work on the local rows; ``to_dense`` returns the whole kernel.
    Every process of the group must build it with the same data, and call ``matvec`` and the
    collectives in the same order.
    """

    def __init__(self, R, desc_perms, sigma, lam=0.0, *, cache_coefficients=False, **kwargs):
        super().__init__(R, desc_perms, sigma, lam, cache_coefficients=False, **kwargs)
        if self.backend == "keops" and cache_coefficients:
            raise ValueError("cache_coefficients=True needs backend='torch' (KeOps recomputes them on the fly).")
        world, r = group.world_size(), group.rank()
        self.counts = group.shard_counts(self.n_train, world)
        self.g0 = sum(self.counts[:r])
        self.g1 = self.g0 + self.counts[r]
        if self.g1 == self.g0:
            raise ValueError(f"{self.n_train} training geometries for {len(self.counts)} processes: every process "
                             "needs at least one; use fewer processes.")
        self.row_counts = [k * self.block_size for k in self.counts]
        if self.symmetric:  # tile pairs (I, J >= I) dealt out in turn; their sums are all-reduced
            self.tiles = set(range(r, self.pairs.n_tile_pairs, world))
            if cache_coefficients:
                self._coef = self.pairs.coefficients(self.tiles)
        elif cache_coefficients:
            self._coef = [self.pairs.coefficients(self.x[s:min(s + self.tile_rows, self.g1)])
                          for s in range(self.g0, self.g1, self.tile_rows)]

    @staticmethod
    def coefficient_bytes(n_train, desc_perms, world, rank):
        """Memory (bytes) of this process's cached pair coefficients: its share of the tile pairs for a
        permutation group, else 16 bytes per pair of its rows with every permuted training point."""
        P = len(desc_perms)
        if SymmetricHessianPairs.applies(torch.as_tensor(np.asarray(desc_perms))):
            return HessianKernelOperator.coefficient_bytes(n_train, desc_perms) / world
        return 16 * group.shard_counts(n_train, world)[rank] * n_train * P

    def _descriptor_matvec(self, U, start=0, stop=None):
        if not self.symmetric:
            return super()._descriptor_matvec(U, start, stop)
        return group.all_sum(self.pairs.product(U, self._coef, tiles=self.tiles))[start:stop]

    @property
    def local_rows(self):
        return slice(self.g0 * self.block_size, self.g1 * self.block_size)

    def reduce(self, t):
        return group.all_sum(t)

    def gather(self, t):
        return group.gather_rows(t, self.row_counts)

    def gather_geometries(self, t):
        return group.gather_rows(t, self.counts)

    def take_rows(self, X, index):
        index = torch.as_tensor(index, device=X.device)
        lo, hi = self.local_rows.start, self.local_rows.stop
        out = torch.zeros((len(index),) + tuple(X.shape[1:]), dtype=X.dtype, device=X.device)
        mine = (index >= lo) & (index < hi)
        out[mine] = X[index[mine] - lo]
        return group.all_sum(out)

    def shared_seed(self, seed):
        return group.broadcast_seed(seed, self.device)

    def _check_local(self, v):
        vt = torch.as_tensor(v, dtype=torch.float64, device=self.device)
        n_local = self.local_rows.stop - self.local_rows.start
        if vt.ndim not in (1, 2) or vt.shape[0] != n_local:
            raise ValueError(f"v must have this process's {n_local} rows ({self.g1 - self.g0} geometries x "
                             f"{self.block_size}); got {tuple(vt.shape)}.")
        return vt

    def matvec(self, v):
        """Local rows of (K + lam I) v for the local rows of v, (n_local,) or (n_local, k)."""
        vt = self._check_local(v)
        V = vt.reshape(self.g1 - self.g0, self.block_size, -1)
        mine = slice(self.g0, self.g1)
        with torch.no_grad():
            U = group.gather_rows(self.to_descriptor(V, mine), self.counts).permute(2, 0, 1).contiguous()  # (k, n, D)
            Y = torch.stack([self._descriptor_matvec(u, self.g0, self.g1) for u in U], 2)
            out = self.from_descriptor(Y, mine) + self.lam * V
        out = out.reshape(vt.shape)
        return out.cpu().numpy() if isinstance(v, np.ndarray) else out

    def columns(self, cols, with_lam=True, rows=None):
        """``(K + lam I)[rows, cols]``; rows default to this process's rows (any global rows may be asked)."""
        if rows is None:
            rows = torch.arange(self.local_rows.start, self.local_rows.stop, device=self.device)
        return super().columns(cols, with_lam=with_lam, rows=rows)

    def diagonal(self, with_lam=True):
        return super().diagonal(with_lam)[self.local_rows]

    def project(self, F):
        """Local rows of the operator coordinates of Cartesian vectors F (n, n_atoms, 3) of every geometry."""
        return super().project(F)[self.local_rows]

    def lift(self, beta):
        """Local operator coordinates -> Cartesian coefficients (n_local, n_atoms, 3) of this process's geometries."""
        B = torch.as_tensor(beta, dtype=torch.float64, device=self.device).reshape(self.g1 - self.g0, -1)
        out = B if self.frame is None else self.frame.lift(B, slice(self.g0, self.g1))
        return out.reshape(self.g1 - self.g0, self.n_atoms, 3)

    def flops_per_matvec(self):
        """This process's share of the product's operations."""
        if self.symmetric:
            return super().flops_per_matvec() // len(self.counts)
        return super().flops_per_matvec() * (self.g1 - self.g0) // self.n_train
