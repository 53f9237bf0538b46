"""Closed-form solve by Cholesky factorisation in place (one copy of the kernel).

The kernel is a C-contiguous symmetric float64 array whose lower triangle is
filled. Its transpose is Fortran-contiguous, so LAPACK's ``dpotrf`` with
``uplo='U'`` on ``K.T`` factorises the C-order lower triangle in place and never
reads or writes the other triangle. No LU or second copy is made.
"""

import numpy as np
from scipy.linalg import lapack

__all__ = ["cholesky_factor_inplace", "cholesky_solve"]


def cholesky_factor_inplace(K):
    """Factorise K = L L^T in place, reading and overwriting only the lower triangle.

    Parameters
    ----------
    K : np.ndarray, shape (n, n), float64, C-contiguous

    Returns
    -------
    int
        0 on success; k > 0 if the leading minor of order k is not positive
        definite (K's lower triangle is then partly overwritten).
    """
    if K.dtype != np.float64 or not K.flags.c_contiguous or K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise TypeError(f"K must be a square C-contiguous float64 array; got {K.dtype} {K.shape}.")
    c, info = lapack.dpotrf(K.T, lower=0, overwrite_a=1, clean=0)
    if info < 0:
        raise ValueError(f"dpotrf rejected argument {-info}.")
    if not np.shares_memory(c, K):  # LAPACK wrapper copied: keep the contract of 'in place'
        K.T[...] = c
    return int(info)


def cholesky_solve(L, y):
    """Solve (L L^T) alpha = y with the factor from :func:`cholesky_factor_inplace`.

    Parameters
    ----------
    L : np.ndarray, shape (n, n)
        Factorised kernel (lower triangle in C order).
    y : np.ndarray, shape (n,) or (n, k)

    Returns
    -------
    np.ndarray, same shape as y
    """
    x, info = lapack.dpotrs(L.T, y, lower=0)
    if info != 0:
        raise ValueError(f"dpotrs failed with info={info}.")
    return x
