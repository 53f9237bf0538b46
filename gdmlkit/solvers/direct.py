"""Closed-form solve by a blocked Cholesky factorisation in place (one copy of the kernel).

The kernel is a C-contiguous symmetric float64 array of which only the lower
triangle is read and overwritten with the factor L (K = L L^T). The right-looking
blocked algorithm calls BLAS-3 kernels (torch: MKL on CPU) on views of that array,
so no second n x n array is ever allocated. (LAPACK's dpotrf in the OpenBLAS that
ships with numpy/scipy crashes above n ≈ 22,000 on this platform; this code path
avoids it and is as fast.)
"""

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["cholesky_factor_inplace", "cholesky_solve"]

BLOCK = 1024


def _check(K):
    if not isinstance(K, np.ndarray) or K.dtype != np.float64 or not K.flags.c_contiguous or K.ndim != 2 \
            or K.shape[0] != K.shape[1]:
        raise TypeError(f"K must be a square C-contiguous float64 numpy array; got "
                        f"{getattr(K, 'dtype', type(K))} {getattr(K, 'shape', '')}.")


def cholesky_factor_inplace(K, block=BLOCK, progress=False):
    """Factorise K = L L^T in place, reading and overwriting only the lower triangle.

    Parameters
    ----------
    K : np.ndarray, shape (n, n), float64, C-contiguous
    block : int
        Block size of the blocked algorithm.
    progress : bool
        tqdm bar over block columns.

    Returns
    -------
    int
        0 on success; k > 0 if the leading minor of order k is not positive
        definite (K's lower triangle is then partly overwritten).
    """
    _check(K)
    A = torch.from_numpy(K)
    n = A.shape[0]
    starts = range(0, n, block)
    for s in tqdm(starts, desc="Cholesky", unit="block", disable=not progress):
        e = min(n, s + block)
        Akk = A[s:e, s:e]
        L, info = torch.linalg.cholesky_ex(Akk)
        if int(info) != 0:
            return s + int(info)
        Akk.copy_(L)
        if e == n:
            break
        panel = A[e:, s:e]  # (n - e, b): L_ik = A_ik L_kk^-T
        panel.copy_(torch.linalg.solve_triangular(L, panel.T, upper=False).T)
        for t in range(e, n, block):  # trailing update, lower triangle only: A_tj -= L_tk L_jk^T
            u = min(n, t + block)
            A[t:u, e:u].addmm_(panel[t - e:u - e], panel[:u - e].T, alpha=-1.0)
    return 0


def cholesky_solve(L, y):
    """Solve (L L^T) alpha = y with the factor from :func:`cholesky_factor_inplace`.

    Parameters
    ----------
    L : np.ndarray, shape (n, n)
        Factorised kernel (lower triangle in C order; the upper one is ignored).
    y : np.ndarray, shape (n,) or (n, k)

    Returns
    -------
    np.ndarray, same shape as y
    """
    _check(L)
    A = torch.from_numpy(L)
    n = A.shape[0]
    Y = torch.from_numpy(np.array(y, dtype=np.float64, copy=True)).reshape(n, -1)
    for s in range(0, n, BLOCK):  # forward: L z = y
        e = min(n, s + BLOCK)
        if s > 0:
            Y[s:e] -= A[s:e, :s] @ Y[:s]
        Y[s:e] = torch.linalg.solve_triangular(A[s:e, s:e].tril(), Y[s:e], upper=False)
    for s in reversed(range(0, n, BLOCK)):  # backward: L^T x = z
        e = min(n, s + BLOCK)
        if e < n:
            Y[s:e] -= A[e:, s:e].T @ Y[e:]
        Y[s:e] = torch.linalg.solve_triangular(A[s:e, s:e].tril().T, Y[s:e], upper=True)
    return Y.reshape(np.shape(y)).numpy()
