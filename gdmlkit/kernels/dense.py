"""Dense symmetrised Hessian (force-field) kernel: the exact float64 reference.

Training geometries enter through their descriptors ``x`` (n, D), dense descriptor
Jacobians ``J`` (n, D, 3N) and the descriptor index permutations ``desc_perms``
(P, D) induced by the molecule's atom permutations (identity only: plain GDML).
The symmetrised kernel between geometries i and j is::

    K_ij = sum_P J_i^T [ a_P S_P - b_P d_P d_P^T S_P ] J_j,   d_P = x_i - S_P x_j

where ``S_P y = y[desc_perms[P]]`` and a, b are the Matérn-5/2 Hessian coefficients
(see :mod:`gdmlkit.kernels.matern`). With energy labels the kernel gains the blocks
cov(F_i, E_j) = J_i^T sum_P a_P d_P, cov(E_i, F_j) = -sum_P a_P d_P^T S_P J_j and
``cov(E_i, E_j) = sum_P k(|d_P|)``. Rows/columns are ordered [forces (i, atom, xyz); energies].
"""

import numpy as np
import torch
from tqdm.auto import tqdm

from .matern import matern52, matern52_coefficients

__all__ = ["kernel_blocks", "assemble_kernel"]


def _permuted(x, J, desc_perms):
    """Permuted training descriptors (n, P, D) and Jacobians (n, P, D, 3N)."""
    return x[:, desc_perms], J[:, desc_perms, :]


def _coefficients(dist, sigma, kernel, with_value):
    """(a, b, k or None) at descriptor distances: the hand-derived Matérn-5/2 (kernel None) or a
    :class:`~gdmlkit.kernels.radial.RadialKernel`'s coefficients by automatic differentiation."""
    if kernel is not None:
        return kernel.coefficients(dist, sigma, with_value=with_value)
    a, b = matern52_coefficients(dist, sigma)
    return a, b, (matern52(dist, sigma) if with_value else None)


def kernel_blocks(x1, J1, x2P, J2P, sigma, use_E=False, kernel=None):
    """Kernel blocks between query geometries (rows) and permuted training geometries (columns).

    Parameters
    ----------
    x1 : (m, D) tensor; J1 : (m, D, 3N) tensor
        Row geometries' descriptors and Jacobians.
    x2P : (n, P, D) tensor; J2P : (n, P, D, 3N) tensor
        Column geometries under every permutation (see ``desc_perms``).
    sigma : float
        Kernel length scale (descriptor units, 1/L).
    use_E : bool
        Also return the energy blocks.
    kernel : RadialKernel, optional
        Base kernel (default: the hand-derived Matérn-5/2).

    Returns
    -------
    dict with 'FF' (m*3N, n*3N) and, if use_E, 'FE' (m*3N, n), 'EF' (m, n*3N), 'EE' (m, n).
    """
    m, D, dim_i = J1.shape
    n, P = x2P.shape[:2]
    diff = x1[:, None, None, :] - x2P[None]  # (m, n, P, D)
    dist = torch.linalg.vector_norm(diff, dim=-1)  # (m, n, P)
    a, b, k = _coefficients(dist, sigma, kernel, use_E)
    W = torch.einsum("inp,npdk->idnk", a, J2P).reshape(m, D, n * dim_i)
    FF = torch.bmm(J1.transpose(1, 2), W)  # (m, 3N, n*3N)
    u = torch.einsum("idk,inpd->inkp", J1, diff)  # (m, n, 3N, P)
    v = torch.einsum("npdl,inpd->inpl", J2P, diff) * b[..., None]  # (m, n, P, 3N)
    FF = FF.view(m, dim_i, n, dim_i) - torch.matmul(u, v).permute(0, 2, 1, 3)
    out = {"FF": FF.reshape(m * dim_i, n * dim_i)}
    if use_E:
        ad = diff * a[..., None]  # (m, n, P, D)
        out["FE"] = torch.einsum("idk,inpd->ikn", J1, ad).reshape(m * dim_i, n)
        out["EF"] = -torch.einsum("inpd,npdl->inl", ad, J2P).reshape(m, n * dim_i)
        out["EE"] = k.sum(-1)
    return out


def assemble_kernel(x, J, desc_perms, sigma, *, use_E=False, out=None, lower_only=False,
                    block_size=None, perms_per_chunk=None, progress=False, kernel=None):
    """Assemble the symmetrised training kernel (without lambda) into a float64 array.

    Parameters
    ----------
    x : (n, D) tensor; J : (n, D, 3N) tensor
        Training descriptors and dense Jacobians (float64).
    desc_perms : (P, D) int64 tensor
        Descriptor index permutations; row 0 the identity.
    sigma : float
        Length scale.
    use_E : bool
        Include energy rows/columns (size n*3N + n).
    out : np.ndarray, optional
        Preallocated C-contiguous float64 (size, size) array, filled in place.
    lower_only : bool
        Without energies, fill only the blocks on and below the block diagonal
        (enough for a lower Cholesky factorisation).
    block_size : int, optional
        Row geometries per step (default: up to 32; the columns are tiled to bound memory).
    perms_per_chunk : int, optional
        Permutations summed per pass; by default as many as keep the permuted
        Jacobians near 256 MB.
    progress : bool
        Show a tqdm bar.
    kernel : RadialKernel, optional
        Base kernel (default: the hand-derived Matérn-5/2).

    Returns
    -------
    np.ndarray, shape (size, size)
    """
    n, D, dim_i = J.shape
    nF = n * dim_i
    size = nF + (n if use_E else 0)
    K = np.empty((size, size)) if out is None else out
    Kt = torch.from_numpy(K)
    P_all = desc_perms.shape[0]
    # tiles of m row x c column geometries keep the temporaries (m, D, c 3N) near 32 MB; the
    # kernel is a sum over permutations, taken in chunks whose permuted column Jacobians
    # (c, P_chunk, D, 3N) stay near 256 MB (large space groups of periodic supercells)
    m = block_size or int(min(n, 32))
    c = int(max(1, min(n, 2**22 // (m * D * dim_i))))
    P_chunk = perms_per_chunk or int(max(1, min(P_all, 2**25 // (c * D * dim_i))))
    c = int(max(1, min(c, 2**22 // (m * P_chunk * max(D, dim_i)))))  # and (m, c, P_chunk, D) near 32 MB
    chunks = [desc_perms[s:s + P_chunk] for s in range(0, P_all, P_chunk)]
    row_starts = range(0, n, m)
    for s in tqdm(row_starts, desc="Assembling kernel", unit="block", disable=not progress):
        e = min(n, s + m)
        cols = e if (lower_only and not use_E) else n  # energy rows need every column
        for c0 in range(0, cols, c):
            c1 = min(cols, c0 + c)
            for k, dp in enumerate(chunks):
                x2P, J2P = _permuted(x[c0:c1], J[c0:c1], dp)
                blk = kernel_blocks(x[s:e], J[s:e], x2P, J2P, sigma, use_E=use_E, kernel=kernel)
                put = torch.Tensor.copy_ if k == 0 else torch.Tensor.add_
                put(Kt[s * dim_i:e * dim_i, c0 * dim_i:c1 * dim_i], blk["FF"])
                if use_E:
                    put(Kt[nF + s:nF + e, c0 * dim_i:c1 * dim_i], blk["EF"])
                    put(Kt[nF + s:nF + e, nF + c0:nF + c1], blk["EE"])
                    if not lower_only:
                        put(Kt[s * dim_i:e * dim_i, nF + c0:nF + c1], blk["FE"])
    return K
