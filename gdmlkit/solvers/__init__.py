"""Linear solvers for the kernel system (K + lambda I) alpha = y."""

from .direct import cholesky_factor_inplace, cholesky_solve

__all__ = ["cholesky_factor_inplace", "cholesky_solve"]
