"""The dense symmetrised Hessian kernel of pair descriptors, without dense Jacobians.

Same matrix as :func:`gdmlkit.kernels.dense.assemble_kernel`, for descriptors whose entry d depends
on one atom pair only (inverse distances, molecular or minimum-image): row d of the Jacobian J is
``-g_d`` at atom ``alpha_d`` and ``+g_d`` at atom ``beta_d``. Every contraction with J is then a
scatter of 3-vectors over the D pairs instead of a product with a dense (D, 3N) matrix, and the
permuted Jacobians ``S_P J_j`` are never formed: per geometry pair and permutation the work is
O(D) instead of O(D 3N). That is what makes large space groups (BIGDML supercells: 1536 operations
for 64 silicon atoms) affordable. With ``u_P = J_i^T d_P``, ``v_P = (S_P J_j)^T d_P`` and
``W = sum_P a_P S_P J_j``::

    K_ij^FF = J_i^T W - sum_P b_P u_P v_P^T,  K_ij^FE = sum_P a_P u_P,  K_ij^EF = -sum_P a_P v_P

``v_P`` comes from the inverse permutation, ``(S_P J_j)^T d_P = J_j^T (S_P^-1 x_i - x_j)``.
"""

import numpy as np
import torch
from tqdm.auto import tqdm

from .matern import matern52, matern52_coefficients

__all__ = ["assemble_pair_kernel"]

#: Floats per temporary of one tile (geometry pairs x permutations x D x 3), about 32 MB.
TILE_FLOATS = 2**22


def _scatter_pairs(t, alpha, beta, n_atoms):
    """J^T contraction of per-pair 3-vectors: t (D, X) -> (n_atoms, X), +t at beta, -t at alpha."""
    out = t.new_zeros((n_atoms,) + t.shape[1:])
    out.index_add_(0, beta, t)
    out.index_add_(0, alpha, t, alpha=-1.0)
    return out


class _Tiles:
    """The blocks of one tile of m row and c column geometries, summed over the permutations."""

    def __init__(self, x, g, alpha, beta, dp, sigma):
        self.x, self.g, self.alpha, self.beta, self.sigma = x, g, alpha, beta, sigma
        self.n_atoms = int(max(alpha.max(), beta.max())) + 1
        D = x.shape[1]
        self.dp = dp
        self.inv = torch.argsort(dp, dim=1)  # S_P^-1
        ar = torch.arange(D)
        #: flat (d, atom) targets of W's scatter: the atoms of pair dp[P, d]
        self.tgt_alpha = ar * self.n_atoms + alpha[dp]
        self.tgt_beta = ar * self.n_atoms + beta[dp]
        self.xT = x.T.contiguous()  # (D, n)
        self.gT = g.permute(1, 0, 2).contiguous()  # (D, n, 3)

    def blocks(self, rows, cols, p_chunk, use_E):
        """(FF (m, 3N, c, 3N), FE (m, 3N, c), EF (m, c, 3N), EE (m, c)); the energy blocks None without use_E."""
        N, D = self.n_atoms, self.x.shape[1]
        m, c = len(rows), len(cols)
        xi, gi = self.xT[:, rows], self.gT[:, rows]  # (D, m), (D, m, 3)
        xj, gj = self.xT[:, cols], self.gT[:, cols]
        W = self.x.new_zeros((D * N, m, c, 3))
        term2 = self.x.new_zeros((m, c, 3 * N, 3 * N))
        FE = self.x.new_zeros((3 * N, m, c)) if use_E else None
        EF = self.x.new_zeros((3 * N, m, c)) if use_E else None
        EE = self.x.new_zeros((m, c)) if use_E else None
        for s in range(0, self.dp.shape[0], p_chunk):
            dp, inv = self.dp[s:s + p_chunk], self.inv[s:s + p_chunk]
            P = dp.shape[0]
            diff = xi[:, :, None, None] - self.x[cols][:, dp].permute(2, 0, 1)[:, None]  # (D, m, c, P)
            dist = torch.linalg.vector_norm(diff, dim=0)
            a, b = matern52_coefficients(dist, self.sigma)  # (m, c, P)
            u = _scatter_pairs((diff[..., None] * gi[:, :, None, None, :]).reshape(D, -1), self.alpha, self.beta, N)
            diff_inv = self.x[rows][:, inv].permute(2, 0, 1)[:, :, None, :] - xj[:, None, :, None]  # (D, m, c, P)
            v = _scatter_pairs((diff_inv[..., None] * gj[:, None, :, None, :]).reshape(D, -1), self.alpha,
                               self.beta, N)
            u = u.view(N, m, c, P, 3).permute(1, 2, 3, 0, 4).reshape(m, c, P, 3 * N)
            v = v.view(N, m, c, P, 3).permute(1, 2, 3, 0, 4).reshape(m, c, P, 3 * N)
            term2.add_(torch.matmul((u * b[..., None]).transpose(2, 3), v))
            src = a.permute(2, 0, 1)[:, None, :, :, None] * self.g[cols][:, dp].permute(1, 2, 0, 3)[:, :, None]
            src = src.reshape(P * D, m, c, 3)  # a_P g_j[dp[P, d]] at (P, d)
            W.index_add_(0, self.tgt_beta[s:s + P].reshape(-1), src)
            W.index_add_(0, self.tgt_alpha[s:s + P].reshape(-1), src, alpha=-1.0)
            if use_E:
                FE.add_(torch.einsum("mcp,mcpk->kmc", a, u))
                EF.sub_(torch.einsum("mcp,mcpk->kmc", a, v))
                EE.add_(matern52(dist, self.sigma).sum(-1))
        # term 1: J_i^T W, contracted over the pairs d with the row geometries' Jacobians
        W = W.view(D, N, m, c, 3).permute(0, 2, 1, 3, 4)  # (D, m, N, c, 3)
        t1 = gi[:, :, :, None, None, None] * W[:, :, None]  # (D, m, 3, N, c, 3)
        T1 = _scatter_pairs(t1.reshape(D, -1), self.alpha, self.beta, N).view(N, m, 3, N, c, 3)
        FF = T1.permute(1, 0, 2, 4, 3, 5).reshape(m, 3 * N, c, 3 * N) - term2.permute(0, 2, 1, 3)
        if not use_E:
            return FF, None, None, None
        return FF, FE.permute(1, 0, 2), EF.permute(1, 2, 0), EE


def assemble_pair_kernel(x, g, pairs, desc_perms, sigma, *, basis=None, use_E=False, out=None, lower_only=False,
                         progress=False):
    """Assemble the symmetrised training kernel (without lambda) of a pair descriptor into a float64 array.

    Parameters
    ----------
    x : (n, D) tensor; g : (n, D, 3) tensor
        Training descriptors and Jacobian factors (``descriptor.transform``; float64).
    pairs : (alpha, beta) int64 tensors of length D
        The atoms of each descriptor entry (``descriptor._pairs``): J row d is -g_d at alpha_d, +g_d at beta_d.
    desc_perms : (P, D) int64 tensor
        Descriptor index permutations (a group; row 0 the identity).
    sigma : float
        Length scale.
    basis : (n, 3N, r) tensor, optional
        Per-geometry bases Q_i: the kernel of J_i Q_i (the rigid-motion-free closed form); default the
        Cartesian kernel of J_i.
    use_E, out, lower_only, progress
        As :func:`gdmlkit.kernels.dense.assemble_kernel`; with ``lower_only`` the energy rows are filled below
        the diagonal too (the lower triangle of the whole matrix), from the transposed force-energy blocks.

    Returns
    -------
    np.ndarray, shape (size, size): rows/columns [forces (i, unknowns); energies]
    """
    alpha, beta = (torch.as_tensor(t, dtype=torch.long) for t in pairs)
    n, D = x.shape
    dp = torch.as_tensor(desc_perms, dtype=torch.long)
    P_all = dp.shape[0]
    tiles = _Tiles(x, g, alpha, beta, dp, sigma)
    r = 3 * tiles.n_atoms if basis is None else basis.shape[2]
    nF = n * r
    size = nF + (n if use_E else 0)
    K = np.empty((size, size)) if out is None else out
    Kt = torch.from_numpy(K)
    # m = c geometries per tile side, then as many permutations as keep the temporaries near TILE_FLOATS
    m = int(max(1, min(n, 32, np.sqrt(TILE_FLOATS / (3 * D * P_all)))))
    p_chunk = int(max(1, min(P_all, TILE_FLOATS // (3 * D * m * m))))
    starts = list(range(0, n, m))
    todo = [(s, c) for s in starts for c in starts if not lower_only or c <= s]

    def project(FF, FE, EF, rows, cols):
        if basis is None:
            return FF, FE, EF
        Qi, Qj = basis[rows], basis[cols]
        FF = torch.einsum("iar,iajb,jbs->irjs", Qi, FF, Qj)
        return FF, (None if FE is None else torch.einsum("iar,iaj->irj", Qi, FE)), (
            None if EF is None else torch.einsum("ija,jas->ijs", EF, Qj))

    for s, c0 in tqdm(todo, desc="Assembling kernel", unit="tile", disable=not progress):
        rows, cols = torch.arange(s, min(n, s + m)), torch.arange(c0, min(n, c0 + m))
        FF, FE, EF, EE = tiles.blocks(rows, cols, p_chunk, use_E)
        FF, FE, EF = project(FF, FE, EF, rows, cols)
        e, c1 = s + len(rows), c0 + len(cols)
        Kt[s * r:e * r, c0 * r:c1 * r] = FF.reshape(len(rows) * r, len(cols) * r)
        if use_E:
            Kt[nF + s:nF + e, c0 * r:c1 * r] = EF.reshape(len(rows), len(cols) * r)
            Kt[nF + s:nF + e, nF + c0:nF + c1] = EE
            if lower_only:  # cov(E_j, F_i) = cov(F_i, E_j)^T: the energy rows of the column block
                if c0 != s:
                    Kt[nF + c0:nF + c1, s * r:e * r] = FE.reshape(len(rows) * r, len(cols)).T
            else:
                Kt[s * r:e * r, nF + c0:nF + c1] = FE.reshape(len(rows) * r, len(cols))
    return K
