"""The dense symmetrised Hessian kernel of pair descriptors, without dense Jacobians.

Same matrix as :func:`gdmlkit.kernels.dense.assemble_kernel`, for descriptors whose entries are
functions of one atom pair each (inverse distances, molecular or minimum-image). Writing the descriptor
of geometry i as a symmetric atom-pair matrix ``X_i[a, b]`` and its Jacobian as
``G_i[a, b] = d X_i[a, b] / d r_a`` (3-vectors), every contraction with a Jacobian becomes a batched
matrix product over atoms, and the permuted Jacobians ``S_P J_j`` (n P D 3N numbers, the cost of the
reference with BIGDML's large space groups) are never formed. With ``pi_P`` the atom permutations,
``u_P = J_i^T (x_i - S_P x_j)``, ``v_P = J_j^T (S_P^-1 x_i - x_j)``::

    u_P[a] = sum_b G_i[a, b] (X_i[a, b] - X_j[pi_P a, pi_P b])
    K^FF_ij = J_i^T W - sum_P b_P u_P v_P^T,   K^FE_ij = sum_P a_P u_P,   K^EF_ij = -sum_P a_P v_P

and ``J_i^T W = sum_P a_P J_i^T S_P J_j`` is summed coset by coset: the permutations that send atom a
to atom c contribute ``a_P G_j[c, pi_P b]`` to ``W[a, b, c]``. The coefficients a_P, b_P are those of the
base kernel: the hand-derived Matérn-5/2 or any :class:`~gdmlkit.kernels.radial.RadialKernel`.
"""

import numpy as np
import torch
from tqdm.auto import tqdm

from .dense import _coefficients

__all__ = ["assemble_pair_kernel"]

#: Floats per temporary of one tile (about 32 MB): bounds the permutation chunks and the coset gathers.
TILE_FLOATS = 2**22


def atom_permutations(desc_perms, alpha, beta, n_atoms):
    """The atom permutations (P, n_atoms) that induce descriptor permutations `desc_perms` (P, D) on pairs
    (alpha, beta); ValueError where the rows are not induced by atom permutations."""
    dp = torch.as_tensor(desc_perms, dtype=torch.long)
    index = torch.full((n_atoms, n_atoms), -1, dtype=torch.long)
    index[alpha, beta] = index[beta, alpha] = torch.arange(len(alpha))
    hi, lo = alpha[dp], beta[dp]  # (P, D): the pair each entry is sent to
    if n_atoms < 3:
        raise ValueError("assemble_pair_kernel needs at least 3 atoms; use gdmlkit.kernels.dense.assemble_kernel.")
    atoms = torch.arange(n_atoms)
    d1, d2 = index[atoms, (atoms + 1) % n_atoms], index[atoms, (atoms + 2) % n_atoms]  # two pairs of each atom
    h1, l1, h2, l2 = hi[:, d1], lo[:, d1], hi[:, d2], lo[:, d2]
    perms = torch.where((h1 == h2) | (h1 == l2), h1, l1)  # the atom the two image pairs share
    ok = torch.equal(perms.sort(1).values, atoms.expand_as(perms))
    if ok:
        a, b = torch.meshgrid(torch.arange(n_atoms), torch.arange(n_atoms), indexing="ij")
        off = a != b
        ok = torch.equal(index[perms[:, a[off]], perms[:, b[off]]], dp[:, index[a[off], b[off]]])
    if not ok:
        raise ValueError("desc_perms are not induced by atom permutations of a pair descriptor (with at least 3 "
                         "atoms); use gdmlkit.kernels.dense.assemble_kernel.")
    return perms


class _PairKernel:
    """Geometry-independent index maps of one pair structure and group, and the blocks of tiles."""

    def __init__(self, x, g, alpha, beta, dp, sigma, kernel=None):
        n, D = x.shape
        self.kernel = kernel
        self.n_atoms = N = int(max(alpha.max(), beta.max())) + 1
        self.sigma = sigma
        self.dp = dp
        perms = atom_permutations(dp, alpha, beta, N)
        P = self.n_perms = perms.shape[0]
        inv = torch.argsort(perms, dim=1)
        # ordered-pair index: X[a, b] = x_ext[pidx[a, b]], the diagonal a dummy zero entry D
        pidx = torch.full((N, N), D, dtype=torch.long)
        pidx[alpha, beta] = pidx[beta, alpha] = torch.arange(D)
        sign = torch.zeros(N, N, dtype=x.dtype)
        sign[alpha, beta], sign[beta, alpha] = -1.0, 1.0  # d x_ab / d r_a = -g at alpha, +g at beta
        x_ext = torch.cat([x, x.new_zeros(n, 1)], 1)
        g_ext = torch.cat([g, g.new_zeros(n, 1, 3)], 1)
        self.x, self.x_ext, self.sq = x, x_ext, (x * x).sum(1)
        X = x_ext[:, pidx]  # (n, N, N)
        G = sign[None, :, :, None] * g_ext[:, pidx]  # (n, N_a, N_b, 3)
        self.G = G.permute(0, 1, 3, 2).contiguous()  # (n, N_a, 3, N_b)
        self.Gcb = G.reshape(n, N * N, 3)  # rows c * N + b: G[c, b]
        self.c = (G * X[..., None]).sum(2)  # (n, N, 3): J_i^T x_i
        # X_j[pi_P a, pi_P b] and X_i[pi_P^-1 a, pi_P^-1 b] as (N, N, P) index maps
        self.map_u = pidx[perms.T[:, None, :], perms.T[None, :, :]]
        self.map_v = pidx[inv.T[:, None, :], inv.T[None, :, :]]
        # cosets: the permutations sending a to c, padded with the index P (a zero weight)
        sizes = torch.zeros(N, N, dtype=torch.long).index_put_((torch.arange(N).repeat(P), perms.reshape(-1)),
                                                              torch.ones(P * N, dtype=torch.long), accumulate=True)
        s = int(sizes.max())
        order = torch.argsort(perms.T.reshape(-1) + N * torch.arange(N).repeat_interleave(P), stable=True)
        key_a = torch.arange(N).repeat_interleave(P)[order]
        key_c = perms.T.reshape(-1)[order]
        p_of = torch.arange(P).repeat(N)[order]
        start = torch.cumsum(sizes.reshape(-1), 0) - sizes.reshape(-1)
        slot = torch.arange(P * N) - start[key_a * N + key_c]
        self.coset = torch.full((N, N, s), P, dtype=torch.long)
        self.coset[key_a, key_c, slot] = p_of
        perms_ext = torch.cat([perms, torch.arange(N)[None]], 0)  # the pad: any valid permutation
        #: rows c * N + pi_P b of G_j for the coset entries: (N_a, N_c, s, N_b)
        self.coset_rows = (torch.arange(N)[None, :, None, None] * N
                           + perms_ext[self.coset][..., :, :]).contiguous()

    def blocks(self, rows, cols, p_chunk, use_E):
        """(FF (m, c, 3N, 3N), FE (m, c, 3N), EF (m, c, 3N), EE (m, c)) of row and column geometries;
        the energy blocks None without use_E."""
        N, P, sigma = self.n_atoms, self.n_perms, self.sigma
        m, c = len(rows), len(cols)
        GI = self.G[rows].permute(1, 0, 2, 3).reshape(N, 3 * m, N)  # [a, (i, k), b]
        GC = self.G[cols].permute(1, 0, 2, 3).reshape(N, 3 * c, N)
        cI, cC = self.c[rows], self.c[cols]
        weights = self.x.new_zeros((m, c, P + 1))  # a_P, and 0 for the coset pad
        term2 = self.x.new_zeros((m, c, 3 * N, 3 * N))
        FE = self.x.new_zeros((m, c, N, 3)) if use_E else None
        EF = self.x.new_zeros((m, c, N, 3)) if use_E else None
        EE = self.x.new_zeros((m, c)) if use_E else None
        for s in range(0, P, p_chunk):
            e = min(P, s + p_chunk)
            cross = torch.einsum("id,jpd->ijp", self.x[rows], self.x[cols][:, self.dp[s:e]])
            dist = (self.sq[rows][:, None, None] + self.sq[cols][None, :, None] - 2.0 * cross).clamp_min_(0).sqrt_()
            a, b, k = _coefficients(dist, sigma, self.kernel, use_E)  # (m, c, p)
            weights[:, :, s:e] = a
            p = e - s
            # batched over the first atom: (N, 3m, N) @ (N, N, p c) -> u[a, (i, k), (P, j)]
            XP = self.x_ext[cols].T[self.map_u[:, :, s:e]].reshape(N, N, p * c)  # X_j[pi a, pi b]
            XPinv = self.x_ext[rows].T[self.map_v[:, :, s:e]].reshape(N, N, p * m)  # X_i[pi^-1 a, pi^-1 b]
            u = torch.bmm(GI, XP).view(N, m, 3, p, c).permute(1, 4, 0, 2, 3)  # (m, c, N, 3, p)
            v = torch.bmm(GC, XPinv).view(N, c, 3, p, m).permute(4, 1, 0, 2, 3)
            u = (cI[:, None, :, :, None] - u).reshape(m, c, 3 * N, p)
            v = (v - cC[None, :, :, :, None]).reshape(m, c, 3 * N, p)
            term2.add_(torch.matmul(u * b[:, :, None, :], v.transpose(2, 3)))
            if use_E:
                FE.add_(torch.matmul(u, a[..., None]).view(m, c, N, 3))
                EF.sub_(torch.matmul(v, a[..., None]).view(m, c, N, 3))
                EE.add_(k.sum(-1))
        FF = -term2
        s_max = self.coset.shape[2]
        a_step = int(max(1, min(N, TILE_FLOATS // (N * s_max * 3 * N))))
        for k, j in enumerate(cols.tolist()):
            T = self.x.new_empty((N, N, m, 3 * N))  # T[a, c, i, (b, l)] = sum_{P: pi a = c} a_P G_j[c, pi_P b, l]
            for a0 in range(0, N, a_step):
                a1 = min(N, a0 + a_step)
                Gg = self.Gcb[j][self.coset_rows[a0:a1]].reshape(a1 - a0, N, s_max, 3 * N)
                A = weights[:, k][:, self.coset[a0:a1]]  # (m, a, c, s)
                T[a0:a1] = torch.matmul(A.permute(1, 2, 0, 3), Gg)
            T5 = T.view(N, N, m, N, 3)
            W = T5.permute(2, 0, 3, 1, 4) + T5.permute(2, 3, 0, 1, 4)  # [i, a, b, c, l]
            FF[:, k] += torch.matmul(self.G[rows], W.reshape(m, N, N, 3 * N)).reshape(m, 3 * N, 3 * N)
        if not use_E:
            return FF, None, None, None
        return FF, FE.reshape(m, c, 3 * N), EF.reshape(m, c, 3 * N), EE


def assemble_pair_kernel(x, g, pairs, desc_perms, sigma, *, basis=None, use_E=False, out=None, lower_only=False,
                         progress=False, kernel=None):
    """Assemble the symmetrised training kernel (without lambda) of a pair descriptor into a float64 array.

    Parameters
    ----------
    x : (n, D) tensor; g : (n, D, 3) tensor
        Training descriptors and Jacobian factors (``descriptor.transform``; float64).
    pairs : (alpha, beta) int64 tensors of length D
        The atoms of each descriptor entry (``descriptor._pairs``): J row d is -g_d at alpha_d, +g_d at beta_d.
    desc_perms : (P, D) int64 tensor
        Descriptor index permutations induced by atom permutations (a group; row 0 the identity).
    sigma : float
        Length scale.
    basis : (n, 3N, r) tensor, optional
        Per-geometry bases Q_i: the kernel of J_i Q_i (the rigid-motion-free closed form); default the
        Cartesian kernel of J_i.
    use_E, out, lower_only, progress
        As :func:`gdmlkit.kernels.dense.assemble_kernel`; with ``lower_only`` the energy rows are filled below
        the diagonal too (the lower triangle of the whole matrix), from the transposed force-energy blocks.
    kernel : RadialKernel, optional
        Base kernel (default: the hand-derived Matérn-5/2).

    Returns
    -------
    np.ndarray, shape (size, size): rows/columns [forces (i, unknowns); energies]
    """
    alpha, beta = (torch.as_tensor(t, dtype=torch.long) for t in pairs)
    n, D = x.shape
    dp = torch.as_tensor(desc_perms, dtype=torch.long)
    kern = _PairKernel(x, g, alpha, beta, dp, sigma, kernel)
    N, P_all = kern.n_atoms, kern.n_perms
    r = 3 * N if basis is None else basis.shape[2]
    nF = n * r
    size = nF + (n if use_E else 0)
    K = np.empty((size, size)) if out is None else out
    Kt = torch.from_numpy(K)
    # m = c geometries per tile side, then as many permutations as keep the (c, N, N, p) gathers near TILE_FLOATS
    m = int(max(1, min(n, 8)))
    p_chunk = int(max(1, min(P_all, TILE_FLOATS // (2 * m * N * N))))
    starts = list(range(0, n, m))
    todo = [(s, c) for s in starts for c in starts if not lower_only or c <= s]

    def project(FF, FE, EF, rows, cols):
        if basis is None:
            return FF, FE, EF
        Qi, Qj = basis[rows], basis[cols]
        FF = torch.matmul(torch.matmul(Qi.transpose(1, 2)[:, None], FF), Qj[None])
        return FF, (None if FE is None else torch.einsum("iar,ija->ijr", Qi, FE)), (
            None if EF is None else torch.einsum("ija,jas->ijs", EF, Qj))

    for s, c0 in tqdm(todo, desc="Assembling kernel", unit="tile", disable=not progress):
        rows, cols = torch.arange(s, min(n, s + m)), torch.arange(c0, min(n, c0 + m))
        FF, FE, EF, EE = kern.blocks(rows, cols, p_chunk, use_E)
        FF, FE, EF = project(FF, FE, EF, rows, cols)  # (m, c, r, r), (m, c, r), (m, c, r)
        e, c1 = s + len(rows), c0 + len(cols)
        Kt[s * r:e * r, c0 * r:c1 * r] = FF.permute(0, 2, 1, 3).reshape(len(rows) * r, len(cols) * r)
        if use_E:
            Kt[nF + s:nF + e, c0 * r:c1 * r] = EF.reshape(len(rows), len(cols) * r)
            Kt[nF + s:nF + e, nF + c0:nF + c1] = EE
            FE = FE.permute(0, 2, 1).reshape(len(rows) * r, len(cols))  # rows (i, unknown), columns j
            if not lower_only:
                Kt[s * r:e * r, nF + c0:nF + c1] = FE
            elif c0 != s:  # cov(E_j, F_i) = cov(F_i, E_j)^T: the energy rows of the column block
                Kt[nF + c0:nF + c1, s * r:e * r] = FE.T
    return K
