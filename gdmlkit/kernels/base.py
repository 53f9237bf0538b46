"""The kernel-operator interface that preconditioners and PCG rely on, and a dense reference.

A training kernel (K + lam I) is a symmetric positive definite block matrix of
``n_train x n_train`` blocks of ``block_size x block_size``: one block row per training
geometry, ``block_size`` unknowns per geometry (3N Cartesian or 3N - 6 internal force
components). Preconditioners read it through :meth:`~KernelOperator.columns` and
:meth:`~KernelOperator.diagonal`; PCG through :meth:`~KernelOperator.matvec`. Vectors are
float64 torch tensors on the operator's ``device`` (numpy arrays are accepted and returned
as numpy, for tests and small problems).

An operator may be one shard of a kernel spread over processes: it then holds the rows
``local_rows`` of the kernel and of every vector, its products take and return those rows,
and the collective methods (:meth:`~KernelOperator.reduce`, :meth:`~KernelOperator.gather`,
:meth:`~KernelOperator.take_rows`, :meth:`~KernelOperator.shared_seed`) combine the shards.
On one process they are the identity, so preconditioners and PCG are written once for both.
"""

from abc import ABC, abstractmethod

import numpy as np
import torch

__all__ = ["KernelOperator", "DenseKernelOperator"]


class KernelOperator(ABC):
    """Abstract (K + lam I) of a training set.

    Subclasses set ``lam`` (float), ``device`` (torch.device), ``n_train`` (int) and
    ``block_size`` (int) and implement :meth:`matvec`, :meth:`columns`, :meth:`diagonal`
    and :meth:`to_dense`.
    """

    lam: float
    device: torch.device
    n_train: int
    block_size: int

    @property
    def shape(self):
        """(n, n) with n = n_train * block_size."""
        n = self.n_train * self.block_size
        return (n, n)

    @property
    def dtype(self):
        return torch.float64

    @abstractmethod
    def matvec(self, v):
        """(K + lam I) v for v (n,) or (n, k), numpy or torch; returns the same shape and type."""

    def __matmul__(self, v):
        return self.matvec(v)

    @abstractmethod
    def columns(self, cols, with_lam=True, rows=None):
        """Block ``(K + lam I)[rows, cols]`` (or of K) as a float64 tensor (len(rows), len(cols)) on
        ``device``; ``rows`` defaults to all n."""

    @abstractmethod
    def diagonal(self, with_lam=True):
        """Diagonal of K + lam I (or of K) as a float64 tensor (n,) on ``device``."""

    @abstractmethod
    def to_dense(self):
        """The full matrix K + lam I as a numpy array (small problems and tests only)."""

    @property
    def local_rows(self):
        """Rows (global indices, a slice) of the kernel and of vectors held by this process: all of them."""
        return slice(0, self.shape[0])

    def reduce(self, t):
        """Sum of `t` over the processes sharing the kernel (a tensor; here `t` itself)."""
        return t

    def gather(self, t):
        """The full (n, ...) tensor from this process's rows ``t`` (local_rows of it)."""
        return t

    def gather_geometries(self, t):
        """The full (n_train, ...) tensor from this process's geometries' entries ``t``."""
        return t

    def take_rows(self, X, index):
        """Rows `index` (global indices) of a row-sharded matrix whose local rows are X, on every process."""
        return X[index]

    def shared_seed(self, seed):
        """A seed that every process agrees on (`seed` itself here)."""
        return seed

    def geometry_of(self, index):
        """Training geometry (block row) of each unknown in `index` (tensor or array)."""
        return index // self.block_size

    def _check_vector(self, v):
        """v as a float64 tensor on the device, with the operator's row count checked."""
        vt = torch.as_tensor(v, dtype=torch.float64, device=self.device)
        if vt.ndim not in (1, 2) or vt.shape[0] != self.shape[0]:
            raise ValueError(f"v must have {self.shape[0]} rows (n_train * {self.block_size}); "
                             f"got {tuple(vt.shape)}.")
        return vt


class DenseKernelOperator(KernelOperator):
    """A kernel held as one dense matrix: the reference the lazy operators are tested against.

    Parameters
    ----------
    K : array or tensor (n, n)
        Symmetric positive semi-definite kernel without lam.
    lam : float
    block_size : int, default 1
        Unknowns per training geometry (n must be a multiple of it).
    device : str, optional
        Default: the device of K (CPU for numpy input).
    """

    def __init__(self, K, lam=0.0, block_size=1, device=None):
        K = torch.as_tensor(K, dtype=torch.float64)
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"K must be a square matrix; got shape {tuple(K.shape)}.")
        if K.shape[0] % block_size:
            raise ValueError(f"K has {K.shape[0]} rows, not a multiple of block_size={block_size}.")
        self.device = K.device if device is None else torch.device(device)
        self.K = K.to(self.device)
        self.lam = float(lam)
        self.block_size = int(block_size)
        self.n_train = K.shape[0] // self.block_size

    def matvec(self, v):
        vt = self._check_vector(v)
        out = self.K @ vt + self.lam * vt
        return out.cpu().numpy() if isinstance(v, np.ndarray) else out

    def columns(self, cols, with_lam=True, rows=None):
        cols = torch.as_tensor(np.asarray(cols), dtype=torch.long, device=self.device)
        rows = (torch.arange(self.shape[0], device=self.device) if rows is None
                else torch.as_tensor(np.asarray(rows), dtype=torch.long, device=self.device))
        out = self.K[rows[:, None], cols[None, :]].clone()
        if with_lam:
            out += self.lam * (rows[:, None] == cols[None, :])
        return out

    def diagonal(self, with_lam=True):
        d = self.K.diagonal().clone()
        return d + self.lam if with_lam else d

    def to_dense(self):
        K = self.K.cpu().numpy().copy()
        K[np.diag_indices_from(K)] += self.lam
        return K
