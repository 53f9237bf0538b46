"""Fit policy: how a kernel fit is sized to a memory budget.

The decisions an estimator takes before solving -- closed form or PCG, whether to cache
the pairwise kernel coefficients, the preconditioner's rank and the storage of its
factor -- in one place, from the budget (``max_memory`` in GB, or the memory available
now) and the system size. The budget fractions were chosen on measured peaks
(docs/guide/solvers.md gives the figures).
"""

import os
import warnings

import numpy as np
import torch

from ..distributed import group
from ..exceptions import PerformanceWarning
from ..preconditioners import PRECONDITIONERS

__all__ = ["FitPolicy", "available_memory_bytes"]

#: Fraction of the budget the closed-form kernel may take before solver='auto' switches to PCG.
CLOSED_FORM_SHARE = 0.5
#: Fraction of the budget the cached coefficients may take (cache_coefficients='auto').
CACHE_SHARE = 0.25
#: Fraction of max_memory the preconditioner's n x k factor may take, less the cache.
FACTOR_SHARE = 0.65
#: Bytes of the factor without a max_memory.
DEFAULT_FACTOR_BYTES = 1.5e9
#: k x k float64 matrices counted for the build of a rank-k preconditioner (Cholesky factor of the
#: inducing block, Gram matrix, eigenvectors, LAPACK's workspace), 8 KK_WORK k^2 bytes within the factor's
#: share when there is a max_memory. Chosen on measured builds (docs/theory/tuning.md): 5.3 k x k matrices'
#: worth above the factor for k = 5393 before the build worked in place, column temporaries included.
KK_WORK = 4


def available_memory_bytes():
    """Physical memory currently available (bytes), from /proc/meminfo or sysconf."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class FitPolicy:
    """Sizing rules of a fit.

    Parameters
    ----------
    max_memory : float, optional
        Budget in GB (default: the memory available when asked).
    rank_constant : float, default 36.0
        c of the automatic rank rule k = (c n^2 / 2)^(1/3).
    """

    def __init__(self, max_memory=None, rank_constant=36.0):
        self.max_memory = max_memory
        self.rank_constant = rank_constant

    def budget(self):
        """Bytes this process may use: max_memory, or the memory available now shared by the processes of
        a distributed fit on this node (torchrun's LOCAL_WORLD_SIZE)."""
        if self.max_memory is not None:
            return self.max_memory * 1e9
        return available_memory_bytes() / (int(os.environ.get("LOCAL_WORLD_SIZE", 1)) if group.active() else 1)

    def solver(self, requested, size):
        """'cholesky' or 'pcg' for a system of `size` unknowns: `requested` unless 'auto', which takes
        the closed form while its float64 kernel needs at most ``CLOSED_FORM_SHARE`` of the budget."""
        if requested != "auto":
            return requested
        return "cholesky" if size * size * 8 < CLOSED_FORM_SHARE * self.budget() else "pcg"

    def check_closed_form(self, size):
        """Raise MemoryError when the size x size float64 kernel exceeds 0.9 of the budget; warn above half."""
        need, avail = size * size * 8, self.budget()
        if need > 0.9 * avail:
            where = "available" if self.max_memory is None else "allowed by max_memory"
            raise MemoryError(
                f"The closed-form solver needs {need / 1e9:.1f} GB for the kernel ({size} x {size} float64) "
                f"but only {avail / 1e9:.1f} GB are {where}. Use solver='pcg' or fewer training geometries."
            )
        if need > 0.5 * avail:
            warnings.warn(f"The kernel takes {need / 1e9:.1f} GB of the {avail / 1e9:.1f} GB available.",
                          PerformanceWarning, stacklevel=4)

    def cache(self, requested, backend, device, cache_bytes):
        """Whether to cache the pairwise coefficients: `requested` unless 'auto', which caches with the
        torch backend on the CPU when they take at most ``CACHE_SHARE`` of the budget."""
        if requested != "auto":
            return bool(requested)
        return backend != "keops" and torch.device(device).type == "cpu" and cache_bytes <= CACHE_SHARE * self.budget()

    def factor_budget(self, cache_bytes=0):
        """Bytes the preconditioner may take (:meth:`build_bytes`): ``DEFAULT_FACTOR_BYTES``, or
        ``FACTOR_SHARE`` max_memory less the cache."""
        if self.max_memory is None:
            return DEFAULT_FACTOR_BYTES
        return FACTOR_SHARE * self.max_memory * 1e9 - cache_bytes

    def rule_rank(self, n):
        """k = (c n^2 / 2)^(1/3) for n unknowns."""
        return int(round((self.rank_constant * n * n / 2.0) ** (1.0 / 3.0)))

    def build_bytes(self, n, k, size):
        """Bytes a rank-k preconditioner of n unknowns is counted at: the n x k factor (`size` bytes per
        entry) and, with a max_memory, the ``KK_WORK`` k x k float64 matrices of its build."""
        return size * n * k + (0 if self.max_memory is None else 8 * KK_WORK * k * k)

    def factor_dtype(self, n, cache_bytes=0, rank=None):
        """'float64' when the float64 factor (:meth:`build_bytes`) fits the factor budget, else 'float32'
        (twice the rank in the same memory, see :class:`~gdmlkit.preconditioners.NystromPreconditioner`);
        k is `rank`, or the rank rule's without one."""
        k = min(n, self.rule_rank(n) if rank is None else rank)
        return "float64" if self.build_bytes(n, k, 8) <= self.factor_budget(cache_bytes) else "float32"

    def rank(self, n, cache_bytes=0, factor_dtype="float64"):
        """The rank rule's k for n unknowns, <= n, with the factor (8 or 4 bytes per entry) and the build's
        k x k work (:meth:`build_bytes`) within the factor budget."""
        size = 4 if factor_dtype == "float32" else 8
        budget, kk = self.factor_budget(cache_bytes), (0 if self.max_memory is None else 8 * KK_WORK)
        fit = budget / (size * n) if kk == 0 else (np.sqrt((size * n) ** 2 + 4 * kk * budget) - size * n) / (2 * kk)
        return int(max(1, min(self.rule_rank(n), n, np.floor(fit))))

    def preconditioner(self, name, n, n_inducing="auto", options=None, cache_bytes=0):
        """(rank, options) of preconditioner `name` for n unknowns.

        The rank and storage are those of the whole n x k factor, also in a distributed fit, where
        each process holds only its rows of it: K processes choose what one process would, so they
        reach the same solution in the same iterations with 1/K of the factor each.

        The options are the class's ``estimator_options`` updated by `options`; without a
        'factor_dtype' the storage that fits the budget is chosen (:meth:`factor_dtype`), and
        an 'auto' rank follows the rule within the budget (:meth:`rank`).
        """
        opts = dict(PRECONDITIONERS[name].estimator_options) if name in PRECONDITIONERS else {}
        opts.update(options or {})
        rank = None if n_inducing == "auto" else int(n_inducing)
        opts.setdefault("factor_dtype", self.factor_dtype(n, cache_bytes, rank))
        if rank is None:
            rank = self.rank(n, cache_bytes, opts["factor_dtype"])
        return rank, opts
