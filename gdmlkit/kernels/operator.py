"""Lazy symmetrised Hessian-kernel operator: (K + lam I) v without forming K.

K = blockdiag(J)^T G blockdiag(J), with G the descriptor-space kernel. A product
first contracts v with the Jacobians (u_j = J_j v_j, D numbers per geometry), does
the pairwise work in descriptor space against the n*P permuted training points::

    y_i = sum_{j,P} [ a_ijP S_P u_j - b_ijP d_ijP (d_ijP . S_P u_j) ],  d_ijP = x_i - S_P x_j

and maps back with J_i^T. Memory grows linearly with n (the pairwise terms are
formed a row block at a time, or never with KeOps). Two backends share this class:
'torch' (blocked dense algebra, CPU or CUDA) and 'keops' (a compiled lazy reduction).
"""

import numpy as np
import torch

from ..descriptors import InverseDistanceDescriptor
from ..utils.validation import check_device
from .base import KernelOperator
from .dense import assemble_kernel, kernel_blocks
from .keops import keops_available, keops_descriptor_matvec
from .matern import HessianPairs, SymmetricHessianPairs, matern52_coefficients

__all__ = ["HessianKernelOperator"]

_BACKENDS = ("auto", "torch", "keops")
#: Geometry pairs x per-pair width evaluated at once by :meth:`HessianKernelOperator.columns`.
COLUMN_CHUNK = 2**23
#: :meth:`HessianKernelOperator.columns` forms dense blocks while unknowns per geometry <= this x permutations.
DENSE_BLOCK_RATIO = 6


class HessianKernelOperator(KernelOperator):
    """Symmetrised Hessian kernel of a training set as a linear operator (plus lam * I).

    Parameters
    ----------
    R : array (n, n_atoms, 3)
        Training positions (length unit L).
    desc_perms : int array (P, D)
        Descriptor index permutations (row 0 identity).
    sigma : float
        Kernel length scale (1/L).
    lam : float, default 0
        Diagonal shift.
    coordinates : {'cartesian', 'internal'}
        'cartesian': unknowns are the 3N force components of each geometry.
        'internal': unknowns are the r = 3N - 6 components orthogonal to rigid
        motions (J_i Q_i replaces J_i; see :class:`~gdmlkit.descriptors.internal.InternalFrame`,
        Cartesian where a geometry is linear): a smaller system with the same predictions,
        and without the lam-sized eigenvalues of the rigid-motion null space that slow CG
        down. Map with :meth:`project` and :meth:`lift`.
    backend : {'auto', 'torch', 'keops'}
        'auto' takes KeOps on CUDA devices (an ImportError naming the fix where pykeops
        cannot compile: never a silent switch), the blocked torch path on the CPU, where it
        is faster (docs/theory/tuning.md).
    device : str
        'cpu' or a CUDA device.
    tile_rows : int, optional
        Rows (geometries) per tile of the torch backend's product. When the permutations form a
        group (the usual case), the torch backend evaluates each pair of geometry blocks
        once and uses the kernel's symmetry for the other half
        (:class:`~gdmlkit.kernels.matern.SymmetricHessianPairs`).
    descriptor : InverseDistanceDescriptor, optional
        Descriptor of the geometries (default: the molecular one for n_atoms; a
        :class:`~gdmlkit.descriptors.PeriodicInverseDistanceDescriptor` for supercells).
    features : (x, g) tensors, optional
        ``descriptor.transform(R)`` when the caller has it already (the estimator computes
        it once per fit).
    cache_coefficients : bool, default False
        Torch backend: keep the pairwise Hessian coefficients a, b in memory
        (8-16 n^2 P bytes, see :meth:`coefficient_bytes`), so each product skips the
        distances and exponentials.
    pair_symmetry : bool, default True
        Let the torch backend evaluate each pair of geometry blocks once where the
        permutations form a group (``symmetric`` tells whether it does); False forces the
        sum over all pairs (for comparisons).
    """

    def __init__(self, R, desc_perms, sigma, lam=0.0, *, coordinates="cartesian", backend="auto", device="cpu",
                 tile_rows=None, descriptor=None, features=None, cache_coefficients=False, pair_symmetry=True):
        if backend not in _BACKENDS:
            raise ValueError(f"Unknown backend {backend!r}; expected one of {list(_BACKENDS)}.")
        if coordinates not in ("cartesian", "internal"):
            raise ValueError(f"Unknown coordinates {coordinates!r}; expected 'cartesian' or 'internal'.")
        self.device = check_device(device)
        requested = backend
        if backend == "auto":  # blocked torch beats KeOps on the CPU (benchmarks/matvec.py)
            backend = "keops" if self.device.type == "cuda" else "torch"
        if backend == "keops" and not keops_available():
            raise ImportError(f"backend={requested!r} on "
                              f"{self.device} takes KeOps, but pykeops is not importable or cannot compile here; "
                              "install pykeops and a C++ compiler (nvcc for CUDA), or pass backend='torch'.")
        self.backend = backend
        self.sigma = float(sigma)
        self.lam = float(lam)
        R = torch.as_tensor(np.asarray(R), dtype=torch.float64, device=self.device)
        self.n_train, self.n_atoms = R.shape[:2]
        self.descriptor = InverseDistanceDescriptor(self.n_atoms) if descriptor is None else descriptor
        if features is None:
            self.x, self.g = self.descriptor.transform(R)
        else:
            self.x, self.g = (torch.as_tensor(t, dtype=torch.float64, device=self.device) for t in features)
        self.frame = self.descriptor.internal_frame(R) if coordinates == "internal" else None
        self.coordinates = "cartesian" if self.frame is None else "internal"
        self.block_size = 3 * self.n_atoms if self.frame is None else self.frame.rank
        self.dp = torch.as_tensor(np.asarray(desc_perms), dtype=torch.long, device=self.device)
        self.n_perms = self.dp.shape[0]
        D = self.x.shape[1]
        self.XP = self.x[:, self.dp].reshape(-1, D)
        self.symmetric = pair_symmetry and self.backend == "torch" and SymmetricHessianPairs.applies(self.dp)
        self.pairs = self._make_pairs(tile_rows)
        self.tile_rows = tile_rows or min(self.n_train, self.pairs.rows)
        if cache_coefficients and self.backend != "torch":
            raise ValueError("cache_coefficients=True needs backend='torch' (KeOps recomputes them on the fly).")
        self._coef = None
        if cache_coefficients and self.symmetric:
            self._coef = self.pairs.coefficients()
        elif cache_coefficients:
            self._coef = [self.pairs.coefficients(self.x[s:s + self.tile_rows])
                          for s in range(0, self.n_train, self.tile_rows)]

    #: Base kernel: None for the hand-derived Matérn-5/2 (AutodiffKernelOperator takes any radial kernel).
    kernel = None

    def _make_pairs(self, tile_rows):
        """The tiled pair products: symmetric (each block pair once) or plain."""
        if self.symmetric:
            return SymmetricHessianPairs(self.x, self.dp, self.sigma, block=tile_rows)
        return HessianPairs(self.XP, self.sigma)

    def _coefficients(self, dist):
        """Hessian coefficients (a, b) at descriptor distances `dist`."""
        if self.kernel is None:
            return matern52_coefficients(dist, self.sigma)
        return self.kernel.coefficients(dist, self.sigma)[:2]

    @property
    def cached_bytes(self):
        """Bytes held by the cached pairwise coefficients (0 without a cache)."""
        if self._coef is None:
            return 0
        tiles = self._coef if self.symmetric else [t for blk in self._coef for t in blk]
        return sum(c.element_size() * c.numel() for pair in tiles for c in pair)

    @staticmethod
    def coefficient_bytes(n_train, desc_perms):
        """Memory (bytes) of the cached pairwise coefficients of n_train geometries under `desc_perms`:
        16 n^2 P, or for a permutation group only the block pairs I <= J (8 n (n + block) P)."""
        P = len(desc_perms)
        if not SymmetricHessianPairs.applies(torch.as_tensor(np.asarray(desc_perms))):
            return 16 * n_train * n_train * P
        g = SymmetricHessianPairs.default_block(n_train, P)
        sizes = [min(g, n_train - s) for s in range(0, n_train, g)]
        return 16 * P * sum(a * b for i, a in enumerate(sizes) for b in sizes[i:])

    def project(self, F):
        """Cartesian per-geometry vectors (n, n_atoms, 3) -> operator coordinates (n * c,); numpy in,
        numpy out, a tensor in, a tensor on the device out."""
        Ft = torch.as_tensor(F, dtype=torch.float64, device=self.device).reshape(self.n_train, -1)
        out = (Ft if self.frame is None else self.frame.project(Ft)).reshape(-1)
        return out.cpu().numpy() if isinstance(F, np.ndarray) else out

    def lift(self, beta):
        """Operator coordinates (n * c,) -> Cartesian coefficients (n, n_atoms, 3), of beta's type."""
        B = torch.as_tensor(beta, dtype=torch.float64, device=self.device).reshape(self.n_train, -1)
        out = (B if self.frame is None else self.frame.lift(B)).reshape(self.n_train, self.n_atoms, 3)
        return out.cpu().numpy() if isinstance(beta, np.ndarray) else out

    def jacobian(self, geoms=slice(None)):
        """Dense J_i Q_i (or J_i in Cartesian coordinates) of geometries `geoms`: (g, D, c). Formed only
        for chunks of geometries (columns, diagonal) and for :meth:`to_dense`."""
        if self.frame is None:
            return self.descriptor.jacobian(self.g[geoms])
        return self.descriptor.jacobian_times(self.g[geoms], self.frame.basis(geoms))

    def to_descriptor(self, V, geoms=slice(None)):
        """u = J_i Q_i v_i for V (g, c, k) of geometries `geoms` -> (g, D, k), from the Jacobian
        factors (no dense Jacobian: O(g D k))."""
        C = V if self.frame is None else self.frame.lift(V, geoms)
        return self.descriptor.jvp(self.g[geoms], C.reshape(C.shape[0], self.n_atoms, 3, -1))

    def from_descriptor(self, Y, geoms=slice(None)):
        """Q_i^T J_i^T y_i for Y (g, D, k) of geometries `geoms` -> (g, c, k)."""
        C = self.descriptor.vjp(self.g[geoms], Y).reshape(Y.shape[0], 3 * self.n_atoms, -1)
        return C if self.frame is None else self.frame.project(C, geoms)

    def _descriptor_matvec(self, U, start=0, stop=None):
        """y_i = sum_jP [a S_P u_j - b d (d . S_P u_j)] for U (n, D), rows i of [start, stop) -> (stop - start, D).

        The cached coefficients (plain product) are those of the tiles of [start, stop)."""
        stop = self.n_train if stop is None else stop
        if self.symmetric:
            return self.pairs.product(U, self._coef)
        D = U.shape[1]
        UP = U[:, self.dp].reshape(-1, D)
        if self.backend == "keops":
            return keops_descriptor_matvec(self.x[start:stop], self.XP, UP, self.sigma)
        XP_UP = (self.XP * UP).sum(1)
        out = torch.empty(stop - start, D, dtype=U.dtype, device=U.device)
        for blk, s in enumerate(range(start, stop, self.tile_rows)):
            e = min(s + self.tile_rows, stop)
            coef = None if self._coef is None else self._coef[blk]
            out[s - start:e - start] = self.pairs.product(self.x[s:e], UP, XP_UP, coef)
        return out

    def matvec(self, v):
        """(K + lam I) v for v of shape (n*c,) or (n*c, k); returns the same shape and type."""
        vt = self._check_vector(v)
        V = vt.reshape(self.n_train, self.block_size, -1)
        with torch.no_grad():
            U = self.to_descriptor(V).permute(2, 0, 1).contiguous()  # (k, n, D)
            Y = torch.stack([self._descriptor_matvec(u) for u in U], 2)
            out = self.from_descriptor(Y) + self.lam * V
        out = out.reshape(vt.shape)
        return out.cpu().numpy() if isinstance(v, np.ndarray) else out

    def columns(self, cols, with_lam=True, rows=None):
        """Block ``(K + lam I)[rows, cols]`` (or of K) as a float64 tensor (len(rows), len(cols)), exactly.

        rows : index array, optional
            Rows to return (default: all n). For each column geometry j the descriptor-space
            columns U_j = J_j Q_j (D, c) are formed (from the Jacobian factors, a chunk at a
            time). Where c <= ``DENSE_BLOCK_RATIO`` P (small molecules) the row geometries' J_i Q_i
            are formed too and the blocks are dense products, O(D c^2) per geometry pair;
            otherwise the kernel products ``sum_P [a S_P U_j - b d_ijP (d_ijP^T S_P U_j)]`` are
            mapped back with Q_i^T J_i^T as products, O(P D c) per pair. Chunks of row and column
            geometries keep temporaries near 8 ``COLUMN_CHUNK`` bytes (64 MB), so a block of the
            n x k columns costs its own memory.
        """
        c, D, P = self.block_size, self.x.shape[1], self.n_perms
        cols = torch.as_tensor(np.asarray(cols), dtype=torch.long, device=self.device)
        rows = (torch.arange(self.shape[0], device=self.device) if rows is None
                else torch.as_tensor(np.asarray(rows), dtype=torch.long, device=self.device))
        geo_r, inv_r = torch.unique(rows // c, return_inverse=True)
        geo_c, inv_c = torch.unique(cols // c, return_inverse=True)
        dense = c <= DENSE_BLOCK_RATIO * P  # D c^2 (dense blocks) against ~3 P D c (products) per pair
        if dense:
            width = max(D * c, P * D, c * c)
        else:
            width = P * D + 3 * D * c + 3 * self.n_atoms * c
        step_c = max(1, min(len(geo_c), COLUMN_CHUNK // (32 * width), COLUMN_CHUNK // (P * D * c)))
        step_r = max(1, COLUMN_CHUNK // (step_c * width))
        out = torch.empty(len(rows), len(cols), dtype=torch.float64, device=self.device)
        for cs in range(0, len(geo_c), step_c):
            sel_c = torch.nonzero((inv_c >= cs) & (inv_c < cs + step_c)).ravel()
            pos_c = (inv_c[sel_c] - cs) * c + cols[sel_c] % c
            gc = geo_c[cs:cs + step_c]
            xc, UP = self.x[gc][:, self.dp], self.jacobian(gc)[:, self.dp, :]  # (gc, P, D), (gc, P, D, c)
            for rs in range(0, len(geo_r), step_r):
                sel_r = torch.nonzero((inv_r >= rs) & (inv_r < rs + step_r)).ravel()
                pos_r = (inv_r[sel_r] - rs) * c + rows[sel_r] % c
                gr = geo_r[rs:rs + step_r]
                if dense:
                    blk = kernel_blocks(self.x[gr], self.jacobian(gr), xc, UP, self.sigma, kernel=self.kernel)["FF"]
                else:
                    blk = self._pair_columns(gr, xc, UP).reshape(len(gr) * c, len(gc) * c)
                blk = blk.index_select(0, pos_r).index_select(1, pos_c)
                if len(sel_c) == len(cols):  # all columns at once: a row scatter (cheaper than 2-D indexing)
                    out.index_copy_(0, sel_r, blk)
                else:
                    out[sel_r[:, None], sel_c[None, :]] = blk
        if with_lam:  # lam where a row index equals a column index
            order = torch.argsort(rows)
            pos = torch.searchsorted(rows[order], cols).clamp(max=len(rows) - 1)
            hit = torch.nonzero(rows[order][pos] == cols).ravel()
            out[order[pos[hit]], hit] += self.lam
        return out

    def _pair_columns(self, gr, xc, UP):
        """Kernel block of row geometries gr (m,) against column geometries with permuted descriptors
        xc (g, P, D) and descriptor columns UP (g, P, D, c): (m, c, g * c)."""
        diff = self.x[gr][:, None, None, :] - xc[None]  # (m, g, P, D)
        a, b = self._coefficients(torch.linalg.vector_norm(diff, dim=-1))  # (m, g, P)
        proj = torch.einsum("mjpd,jpdk->mjpk", diff, UP) * b[..., None]
        Y = torch.einsum("mjp,jpdk->mdjk", a, UP) - torch.einsum("mjpd,mjpk->mdjk", diff, proj)
        return self.from_descriptor(Y.reshape(len(gr), self.x.shape[1], -1), gr)

    def diagonal(self, with_lam=True):
        """Diagonal of K + lam I (or of K), shape (n*c,), from the n diagonal c x c blocks (chunks of
        geometries whose permuted Jacobians stay near 8 ``COLUMN_CHUNK`` bytes)."""
        step = max(1, COLUMN_CHUNK // (self.n_perms * self.x.shape[1] * self.block_size))
        parts = []
        for s in range(0, self.n_train, step):
            geoms = slice(s, min(s + step, self.n_train))
            J, x = self.jacobian(geoms), self.x[geoms]
            diff = x[:, None, :] - x[:, self.dp]  # (g, P, D)
            a, b = self._coefficients(torch.linalg.vector_norm(diff, dim=-1))  # (g, P)
            JP = J[:, self.dp, :]  # (g, P, D, c)
            term1 = torch.einsum("np,npk->nk", a, torch.einsum("ndk,npdk->npk", J, JP))
            u = torch.einsum("ndk,npd->npk", J, diff)
            v = torch.einsum("npdk,npd->npk", JP, diff)
            parts.append(term1 - torch.einsum("np,npk,npk->nk", b, u, v))
        diag = torch.cat(parts).reshape(-1)
        return diag + self.lam if with_lam else diag

    def to_dense(self):
        """The full matrix K + lam I as a numpy array (small problems and tests only)."""
        K = assemble_kernel(self.x.cpu(), self.jacobian().cpu(), self.dp.cpu(), self.sigma, kernel=self.kernel)
        K[np.diag_indices_from(K)] += self.lam
        return K

    def flops_per_matvec(self):
        """Floating-point operations of one product by the torch backend's algorithm: per pair
        8 D + 6 in four matrix products (:class:`~gdmlkit.kernels.matern.HessianPairs`) and 8
        elementwise; with the symmetric product, pairs of distinct geometry blocks are evaluated once
        for 14 D + 18 (three more products and two passes). The Jacobian contractions, O(n D c),
        are left out."""
        n, nP, D = self.n_train, self.XP.shape[0], self.x.shape[1]
        if not self.symmetric:
            return n * nP * (8 * D + 14)
        g, P = self.pairs.rows, self.n_perms
        diag = sum(min(g, n - s) ** 2 * P for s in range(0, n, g))
        return diag * (8 * D + 14) + (n * nP - diag) // 2 * (14 * D + 18)
