"""Nyström preconditioners for (K + lam I): shared low-rank apply.

Each preconditioner builds a factor B (n, k) with K ≈ B B^T (a Nyström approximation
K_nS K_SS^-1 K_Sn, or a truncated eigendecomposition), takes the spectrum of B B^T,
U Λ U^T (from the eigendecomposition of the k x k matrix B^T B), and applies the
inverse of P = U (Λ + μ I) U^T / (λ_k + μ) + (I - U U^T)::

    P^-1 r = U [ (λ_k + μ) (Λ + μ I)^-1 - I ] U^T r + r

(Frangella, Tropp, Udell, SIAM J. Matrix Anal. Appl. 2023). μ is the operator's lam,
λ_k the smallest retained eigenvalue. Subclasses differ only in how B is built.

With ``factor_dtype='float32'`` U is stored in single precision except its leading
columns (λ_i > ``MIXED_RATIO`` λ_k), which stay float64: rounding them would move
B B^T by ~1e-7 λ_i, far above λ_k. The low-rank matrix is then F F^T with
F = Ũ Λ^1/2 (Ũ the stored U) and P is built, as above, from the exact float64
eigendecomposition of that F F^T, so P stays symmetric positive definite. Applying it
converts row blocks of Ũ to float64 on the fly. This halves the preconditioner's
memory for a few percent more iterations (docs/theory/tuning.md).
"""

import time
from abc import ABC, abstractmethod

import numpy as np
import torch
from scipy.linalg import blas

__all__ = ["NystromPreconditioner", "NystromRows", "MIXED_RATIO", "add_gram", "symmetrized", "whole_geometries"]

#: Eigenvectors with eigenvalue above this multiple of the smallest kept one stay float64 in
#: a float32 factor (chosen by measurement: docs/theory/tuning.md).
MIXED_RATIO = 1e5

_FACTOR_DTYPES = ("float64", "float32")


def whole_geometries(geoms, c, rank):
    """Column indices of all c components of the first ceil(rank / c) geometries in `geoms`, cut to `rank`.

    Kernel columns are evaluated a geometry block at a time (all c components for the cost of
    one), so a preconditioner built on whole geometries costs up to c times less.
    """
    geoms = np.asarray(geoms)[:-(-rank // c)]
    return (geoms[:, None] * c + np.arange(c)[None, :]).ravel()[:rank]


def _row_blocks(n, k, target=2**22):
    step = max(1, target // max(1, k))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def add_gram(G, B):
    """G += B^T B for a row block B (m, k) float64; returns G (k, k).

    On the CPU only the upper triangle is updated, by BLAS syrk (faster than a full matrix
    product); :func:`symmetrized` fills the lower one.
    """
    if B.device.type != "cpu":
        return B.T @ B if G is None else G.addmm_(B.T, B)
    if G is None:
        G = torch.zeros(B.shape[1], B.shape[1], dtype=torch.float64).T  # Fortran order, as syrk writes
    a, trans = (B.numpy().T, 0) if B.is_contiguous() else (B.numpy(), 1)
    c = G.numpy()
    out = blas.dsyrk(1.0, a, beta=1.0, c=c, trans=trans, lower=0, overwrite_c=1)
    if not np.shares_memory(out, c):  # syrk worked on a copy
        G.copy_(torch.from_numpy(out))
    return G


def symmetrized(G, block=1024):
    """G with its lower triangle filled in place from the upper one written by :func:`add_gram`
    (in `block`-row strips, so no k x k temporary)."""
    if G.device.type == "cpu":
        for s in range(0, G.shape[0], block):
            G[s:s + block, :s] = G[:s, s:s + block].T
            strip = G[s:s + block, s:s + block]
            strip.copy_(torch.triu(strip) + torch.triu(strip, 1).T)
    return G


def _gram(self):
    """B^T B (k, k), accumulated over the row blocks ``rows(sl)`` for ``sl`` in ``blocks()`` (and summed
    over the processes sharing the kernel)."""
    G = None
    for sl in self.blocks():
        G = add_gram(G, self.rows(sl))
    return self.op.reduce(symmetrized(G))


def _symmetric_part(W, block=1024):
    """(W + W^T) / 2 of a square W, in place (`block`-row strips)."""
    for s in range(0, W.shape[0], block):
        top, left = W[s:s + block, s:], W[s:, s:s + block]
        avg = 0.5 * (top + left.T)
        top.copy_(avg)
        left.copy_(avg.T)
    return W


class NystromRows:
    """Row blocks of the Nyström factor B = C L^-T of columns C = K[:, idx], L L^T = K[idx, idx].

    The rows are computed from the operator when asked for, so B (n, k) need not be held:
    a float32 factor is built by reading it twice, storing only the result (a float64
    factor, as large as B, is built from :meth:`materialize` in one pass). A shift
    ``rel_shift * trace(W) / k`` keeps the Cholesky of W = K[idx, idx] stable. Rows are the
    operator's local rows (all of them on one process).
    """

    def __init__(self, op, idx, rel_shift=1e-10):
        self.op = op
        self.idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        W = _symmetric_part(op.columns(self.idx, with_lam=False, rows=self.idx))
        shift = rel_shift * float(torch.trace(W)) / len(self.idx)
        added = 0.0  # k x k work in place: W and L only
        for _ in range(8):
            W.diagonal().add_(shift - added)
            added = shift
            L, info = torch.linalg.cholesky_ex(W)
            if int(info) == 0:
                break
            del L
            shift *= 100.0
        del W
        self.L = L
        self._start = op.local_rows.start
        self.shape = (op.local_rows.stop - self._start, len(self.idx))

    def blocks(self):
        """Row slices (local) of about 32 MB of B each, aligned to whole geometries."""
        c = self.op.block_size
        step = c * max(1, 2**22 // (c * self.shape[1]))
        return [slice(s, min(self.shape[0], s + step)) for s in range(0, self.shape[0], step)]

    def rows(self, sl):
        """B[sl] (float64) for a slice of the local rows."""
        C = self.op.columns(self.idx, with_lam=False, rows=torch.arange(self._start + sl.start, self._start + sl.stop))
        return torch.linalg.solve_triangular(self.L, C.T, upper=False).T

    gram = _gram

    def materialize(self):
        """B (n, k) as one float64 tensor."""
        B = torch.empty(self.shape, dtype=torch.float64, device=self.L.device)
        for sl in self.blocks():
            B[sl] = self.rows(sl)
        return B


class _TensorRows:
    """Row-block access to a factor held as one float64 tensor (B[sl] is a view) of `op`'s local rows."""

    def __init__(self, B, op):
        self.B = B
        self.op = op
        self.shape = tuple(B.shape)

    def blocks(self):
        return _row_blocks(*self.shape)

    def rows(self, sl):
        return self.B[sl]

    gram = _gram


class NystromPreconditioner(ABC):
    """Base class: ``fit(operator)`` builds the factor, ``apply(r)`` applies P^-1.

    Parameters
    ----------
    rank : int
        Number of inducing columns k (1 <= k <= n).
    random_state : int, optional
        Seed for the random choices.
    factor_dtype : {'float64', 'float32'}, default 'float64'
        Storage of the n x k eigenvector factor (see the module docstring): 'float32'
        halves its memory (8 n k -> ~4 n k bytes); arithmetic stays float64.

    Attributes
    ----------
    rank_ : int
        Rank actually used (may be lower when columns are dependent).
    eig_ : tensor
        The ``rank_`` eigenvalues of the low-rank approximation, descending.
    build_time_s_ : float
    """

    name = None
    #: Options the estimators use for this preconditioner unless told otherwise (the constructor's
    #: defaults are the textbook algorithm, which the published-comparison benchmark measures).
    estimator_options = {}

    def __init__(self, rank, random_state=None, factor_dtype="float64"):
        self.rank = rank
        self.random_state = random_state
        self.factor_dtype = factor_dtype

    def _check_params(self, n):
        if isinstance(self.rank, bool) or not isinstance(self.rank, (int, np.integer)) or self.rank < 1:
            raise ValueError(f"rank == {self.rank!r}, must be a positive integer.")
        if self.rank > n:
            raise ValueError(f"rank == {self.rank} exceeds the system size n == {n}; choose rank <= n "
                             "(a few percent of n is typical).")
        if self.factor_dtype not in _FACTOR_DTYPES:
            raise ValueError(f"Unknown factor_dtype {self.factor_dtype!r}; expected 'float64' or 'float32'.")

    @abstractmethod
    def _factor(self, op, rng):
        """The factor B (n, k), K ≈ B B^T (K without lam), as its local rows: a float64 tensor or a
        :class:`NystromRows`."""

    def fit(self, op):
        """Build the preconditioner from a :class:`~gdmlkit.kernels.KernelOperator`."""
        t0 = time.perf_counter()
        self._check_params(op.shape[0])
        n = op.local_rows.stop - op.local_rows.start
        rng = np.random.default_rng(op.shared_seed(self.random_state))
        src = self._factor(op, rng)
        if isinstance(src, NystromRows) and self.factor_dtype == "float64":
            src = src.materialize()  # U takes n x k float64 anyway: one pass over the kernel, not two
        src = _TensorRows(src, op) if isinstance(src, torch.Tensor) else src
        dev = op.device
        # spectrum of B B^T from the small k x k Gram matrix (cheaper than an SVD of B)
        evals, V = torch.linalg.eigh(src.gram())
        evals = evals.flip(0)
        r = int((evals > evals[0] * 1e-12).sum())
        self.eig_ = evals[:r]
        Vs = V[:, V.shape[1] - r:].flip(1).div_(self.eig_.sqrt())  # descending order; one r-column copy
        del V
        # U = B V Λ^-1/2: leading columns float64, the rest in factor_dtype (with the Gram of the
        # stored, rounded U accumulated on the way)
        m = r if self.factor_dtype == "float64" else int((self.eig_ > MIXED_RATIO * self.eig_[-1]).sum())
        in_place = isinstance(src, _TensorRows) and m == r
        self._U64 = src.B[:, :r] if in_place else torch.empty(n, m, dtype=torch.float64, device=dev)
        self._U32 = torch.empty(n, r - m, dtype=torch.float32, device=dev)
        G = None
        for sl in src.blocks():
            Ub = src.rows(sl) @ Vs
            self._U64[sl] = Ub[:, :m]
            if m < r:
                self._U32[sl] = Ub[:, m:]
                Ub[:, m:] = self._U32[sl]
                G = add_gram(G, Ub)
        del src, Vs
        self.mu_ = float(op.lam)
        self.rank_ = r
        self._reduce = op.reduce
        self._M = self._woodbury_core(None if G is None else op.reduce(symmetrized(G)))
        self.build_time_s_ = time.perf_counter() - t0
        return self

    def _woodbury_core(self, G):
        """k x k M with P^-1 = I + Ũ M Ũ^T for the stored Ũ, given G = Ũ^T Ũ (None: Ũ = U, orthonormal
        to float64 rounding); see the module docstring."""
        lam, mu = self.eig_, self.mu_
        if G is None:
            return torch.diag((lam[-1] + mu) / (lam + mu) - 1.0)
        root = lam.sqrt()
        lam2, W = torch.linalg.eigh(G.mul_(root[:, None]).mul_(root[None, :]))  # F^T F, F = Ũ Λ^1/2
        # M = W diag(d) W^T with W = Λ^1/2 V2 Λ2^-1/2 and d = (λ2_min + μ) / (λ2 + μ) - 1 <= 0: scaled in
        # place by sqrt(-d), so that the k x k work is G, W and M
        W.mul_(root[:, None]).mul_((1.0 - (lam2[0] + mu) / (lam2 + mu)).clamp_(min=0.0).sqrt_().div_(lam2.sqrt()))
        return torch.mm(W, W.T).neg_()

    @property
    def factor_nbytes(self):
        """Bytes held by the stored factor: 8 per float64 entry, 4 per float32 one."""
        return self._U64.numel() * 8 + self._U32.numel() * 4

    def factor(self):
        """The stored eigenvector factor Ũ (n x ``rank_``) as one float64 tensor (tests, small problems)."""
        return torch.cat([self._U64, self._U32.to(torch.float64)], 1)

    def _blocks32(self):
        """Row blocks of the float32 part, converted to float64 about 4 MB at a time."""
        return _row_blocks(self._U32.shape[0], self._U32.shape[1], target=2**19)

    def _transpose_apply(self, r):
        """Ũ^T r (rank_,) in float64, converting float32 row blocks on the fly."""
        out = self._U64.T @ r
        lo = torch.zeros(self._U32.shape[1], dtype=torch.float64, device=r.device)
        for sl in self._blocks32():
            lo.addmv_(self._U32[sl].T.to(torch.float64), r[sl])
        return torch.cat([out, lo])

    def apply(self, r):
        """P^-1 r for r of shape (n,), the operator's local rows (numpy or torch; returns the same type)."""
        is_np = isinstance(r, np.ndarray)
        rt = torch.as_tensor(r, dtype=torch.float64, device=self._U64.device)
        w = self._M @ self._reduce(self._transpose_apply(rt))
        m = self._U64.shape[1]
        out = torch.addmv(rt, self._U64, w[:m])
        for sl in self._blocks32():
            out[sl].addmv_(self._U32[sl].to(torch.float64), w[m:])
        return out.cpu().numpy() if is_np else out

    __call__ = apply

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank})"
