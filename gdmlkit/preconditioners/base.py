"""Nyström preconditioners for (K + lam I): shared low-rank apply.

Each preconditioner builds a factor B (n, k) with K ≈ B B^T (a Nyström approximation
K_nS K_SS^-1 K_Sn, or a truncated eigendecomposition), takes the spectrum of B B^T,
U Λ U^T (from the eigendecomposition of the k x k matrix B^T B), and applies the
inverse of P = U (Λ + μ I) U^T / (λ_k + μ) + (I - U U^T)::

    P^-1 r = U [ (λ_k + μ) (Λ + μ I)^-1 - I ] U^T r + r

(Frangella, Tropp, Udell, SIAM J. Matrix Anal. Appl. 2023). μ is the operator's lam,
λ_k the smallest retained eigenvalue. Subclasses differ only in how B is built.
"""

import time
from abc import ABC, abstractmethod

import numpy as np
import torch

__all__ = ["NystromPreconditioner", "nystrom_factor"]


def _row_blocks(n, k, target=2**22):
    step = max(1, target // max(1, k))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def nystrom_factor(C, idx, rel_shift=1e-10):
    """B with B B^T = C W^-1 C^T for columns C = K[:, idx] (n, k) and W = C[idx] (k, k).

    B overwrites C (a row block at a time), so the factor costs one n x k array.
    A shift rel_shift * trace(W)/k keeps the Cholesky of W stable.
    """
    W = C[idx]
    W = 0.5 * (W + W.T)
    shift = rel_shift * float(torch.trace(W)) / len(idx)
    eye = torch.eye(len(idx), dtype=W.dtype, device=W.device)
    for _ in range(8):
        L, info = torch.linalg.cholesky_ex(W + shift * eye)
        if int(info) == 0:
            break
        shift *= 100.0
    for rows in _row_blocks(C.shape[0], C.shape[1]):  # C L^-T
        C[rows] = torch.linalg.solve_triangular(L, C[rows].T, upper=False).T
    return C


class NystromPreconditioner(ABC):
    """Base class: ``fit(operator)`` builds the factor, ``apply(r)`` applies P^-1.

    Parameters
    ----------
    rank : int
        Number of inducing columns k (1 <= k <= n).
    random_state : int, optional
        Seed for the random choices.

    Attributes
    ----------
    rank_ : int
        Rank actually used (may be lower when columns are dependent).
    build_time_s_ : float
    """

    name = None

    def __init__(self, rank, random_state=None):
        self.rank = rank
        self.random_state = random_state

    def _check_rank(self, n):
        if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
            raise ValueError(f"rank == {self.rank!r}, must be a positive integer.")
        if self.rank > n:
            raise ValueError(f"rank == {self.rank} exceeds the system size n == {n}; choose rank <= n "
                             "(a few percent of n is typical).")

    @abstractmethod
    def _factor(self, op, rng):
        """Return B (n, k) with K ≈ B B^T for the operator's K (without lam)."""

    def fit(self, op):
        """Build the preconditioner from a kernel operator (``shape``, ``lam``, ``columns``, ``diagonal``)."""
        t0 = time.perf_counter()
        n = op.shape[0]
        self._check_rank(n)
        rng = np.random.default_rng(self.random_state)
        B = self._factor(op, rng)
        # spectrum of B B^T from the small k x k Gram matrix (cheaper than an SVD of B)
        evals, V = torch.linalg.eigh(B.T @ B)
        evals, V = evals.flip(0), V.flip(1)
        keep = evals > evals[0] * 1e-12
        r = int(keep.sum())
        self.eig_ = evals[:r]
        Vs = V[:, :r] / self.eig_.sqrt()
        for rows in _row_blocks(*B.shape):  # U = B V Λ^-1/2, overwriting B
            B[rows, :r] = B[rows] @ Vs
        self.U_ = B[:, :r]
        self.mu_ = float(op.lam)
        self.rank_ = r
        lam_k = float(self.eig_[-1])
        self.scale_ = (lam_k + self.mu_) / (self.eig_ + self.mu_) - 1.0
        self.build_time_s_ = time.perf_counter() - t0
        return self

    def apply(self, r):
        """P^-1 r for r of shape (n,) (numpy or torch; returns the same type)."""
        is_np = isinstance(r, np.ndarray)
        rt = torch.as_tensor(r, dtype=self.U_.dtype, device=self.U_.device)
        out = rt + self.U_ @ (self.scale_ * (self.U_.T @ rt))
        return out.cpu().numpy() if is_np else out

    __call__ = apply

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank})"
