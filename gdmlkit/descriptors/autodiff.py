"""Descriptors written as one torch function of a geometry, with Jacobians by automatic differentiation.

A user subclasses :class:`AutodiffDescriptor` and writes only :meth:`~AutodiffDescriptor.forward`,
R (n_atoms, 3) -> x (D,) in float64 torch. Everything the kernels need is derived with ``torch.func``:
the Jacobian-vector products J V (``jvp``), J^T U (``vjp``) and dense Jacobians (``jacfwd``), each
vmapped over geometries; the descriptor permutations induced by atom permutations; the rigid-motion
frame of internal coordinates. The "Jacobian factors" ``g`` of the hand-derived descriptors are here
the positions themselves: ``transform(R)`` returns ``(x, R)``.

:class:`PairDescriptor` covers descriptors x_k = f(r_ab) over atom pairs (a > b, the sGDML order);
:class:`AutodiffInverseDistanceDescriptor` is the inverse-distance descriptor in this form, the
reference the hand-derived :class:`~gdmlkit.descriptors.InverseDistanceDescriptor` is tested against.
"""

import numpy as np
import torch
from torch.func import jacfwd, jvp, vjp, vmap

from ..symmetry.groups import permutation_desc_index
from .internal import InternalFrame
from .inverse_distance import InverseDistanceDescriptor, pair_indices

__all__ = ["AutodiffDescriptor", "PairDescriptor", "AutodiffInverseDistanceDescriptor", "DESCRIPTORS",
           "make_descriptor", "as_autodiff", "descriptor_permutations"]

#: Relative tolerance of matching permuted descriptor entries (:meth:`AutodiffDescriptor.permutation_index`).
PERMUTATION_RTOL = 1e-9


class AutodiffDescriptor:
    """A descriptor given by :meth:`forward`; Jacobian products by ``torch.func``.

    Subclasses set ``name`` (for saving models; None for user-written ones, which cannot be saved),
    ``n_atoms`` and ``params`` (constructor keywords, JSON-serialisable) and implement :meth:`forward`.
    The descriptor must be invariant under translations and rotations (override :meth:`null_motions`
    otherwise) and covariant under permutations of like atoms: permuting atoms permutes entries.
    """

    name = None
    is_periodic = False

    def forward(self, R):
        """Descriptor x (D,) of one geometry R (n_atoms, 3), float64 torch (length unit L)."""
        raise NotImplementedError

    @property
    def dim(self):
        """Descriptor length D."""
        R = torch.from_numpy(_generic_geometry(self.n_atoms))
        return int(self.forward(R).shape[0])

    def transform(self, R):
        """Descriptors x (n, D) and the Jacobian 'factors' (the positions R themselves) of R (n, n_atoms, 3)."""
        R = torch.as_tensor(R, dtype=torch.float64)
        return vmap(self.forward)(R), R

    def jvp(self, g, V):
        """J V: positions g (n, n_atoms, 3), V ``(n, n_atoms, 3, *k)`` -> ``(n, D, *k)``."""
        n, extra = g.shape[0], V.shape[3:]
        Vk = V.reshape(n, self.n_atoms, 3, -1).movedim(-1, 0)  # (k, n, n_atoms, 3)
        one = lambda R, T: jvp(self.forward, (R,), (T,))[1]  # noqa: E731
        out = vmap(vmap(one), in_dims=(None, 0))(g, Vk)  # (k, n, D)
        return out.movedim(0, -1).reshape((n, out.shape[-1]) + extra)

    def vjp(self, g, U):
        """J^T U: positions g (n, n_atoms, 3), U ``(n, D, *k)`` -> ``(n, n_atoms, 3, *k)``."""
        n, D, extra = U.shape[0], U.shape[1], U.shape[2:]
        Uk = U.reshape(n, D, -1).movedim(-1, 0)  # (k, n, D)
        one = lambda R, u: vjp(self.forward, R)[1](u)[0]  # noqa: E731
        out = vmap(vmap(one), in_dims=(None, 0))(g, Uk)  # (k, n, n_atoms, 3)
        return out.movedim(0, -1).reshape((n, self.n_atoms, 3) + extra)

    def jacobian(self, g):
        """Dense Jacobian (n, D, 3 n_atoms) at positions g (n, n_atoms, 3)."""
        J = vmap(jacfwd(self.forward))(g)
        return J.reshape(g.shape[0], J.shape[1], 3 * self.n_atoms)

    def jacobian_times(self, g, Q):
        """J_i Q_i (n, D, r) for bases Q (n, 3 n_atoms, r)."""
        return self.jacobian(g) @ Q

    def null_motions(self, R):
        """Translations and rotations about the centroid, columns of (n, 3 n_atoms, 6)."""
        return InverseDistanceDescriptor.null_motions(self, R)

    def internal_frame(self, R):
        """:class:`~gdmlkit.descriptors.internal.InternalFrame` of the motions the descriptor sees, or None."""
        return InternalFrame.of(self.null_motions(R))

    def permutation_index(self, perms):
        """Descriptor index permutations (P, D) with ``x(R[perms[P]]) == x(R)[idx[P]]``, found on a generic
        geometry; ValueError if a permutation does not permute the entries (the descriptor is not
        covariant under it)."""
        perms = np.asarray(perms, dtype=np.int64)
        R = torch.from_numpy(_generic_geometry(self.n_atoms))
        x = self.forward(R).numpy()
        order = np.argsort(x)
        out = []
        for p in perms:
            xp = self.forward(R[torch.from_numpy(p)]).numpy()
            pos = np.clip(np.searchsorted(x[order], xp), 1, len(x) - 1)
            left, right = order[pos - 1], order[pos]
            idx = np.where(np.abs(x[left] - xp) <= np.abs(x[right] - xp), left, right)
            if not np.allclose(x[idx], xp, rtol=PERMUTATION_RTOL, atol=0) or len(set(idx)) != len(idx):
                raise ValueError(f"Permutation {p.tolist()} does not permute the entries of {self!r}; "
                                 "symmetrisation needs descriptors covariant under the atom permutations.")
            out.append(idx)
        return np.array(out, dtype=np.int64)

    def spec(self):
        """{'name', 'params'}: what a model file records to rebuild this descriptor (built-in ones only)."""
        if DESCRIPTORS.get(self.name) is not type(self):
            raise TypeError(f"{type(self).__name__} is not a built-in descriptor ({sorted(DESCRIPTORS)}); a model "
                            "using it cannot be saved. Keep the fitted estimator in memory, or pickle it.")
        return {"name": self.name, "params": self.params}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "params", {}).items())
        return f"{type(self).__name__}({args})"


def _generic_geometry(n_atoms, seed=12345):
    """Random positions (n_atoms, 3) in a box of 2 n_atoms^(1/3) length units: no two distances equal."""
    return np.random.default_rng(seed).uniform(0.0, 2.0 * n_atoms ** (1 / 3), size=(n_atoms, 3))


class PairDescriptor(AutodiffDescriptor):
    """x_k = f(r_ab) over atom pairs (a, b), a > b, in the order of ``np.tril_indices(n_atoms, -1)``.

    Subclasses implement :meth:`pair_function` (and set ``name`` and ``params`` to be saveable).

    Parameters
    ----------
    n_atoms : int
    """

    def __init__(self, n_atoms):
        self.n_atoms = int(n_atoms)
        a, b = pair_indices(self.n_atoms)
        self._a, self._b = torch.from_numpy(a), torch.from_numpy(b)

    @property
    def dim(self):
        return len(self._a)

    def pair_function(self, r):
        """Entries f(r) (D,) of the pair distances r (D,) (length unit L)."""
        raise NotImplementedError

    def pair_vectors(self, R):
        """R_a - R_b (D, 3) of one geometry."""
        return R[self._a] - R[self._b]

    def forward(self, R):
        return self.pair_function(torch.linalg.vector_norm(self.pair_vectors(R), dim=-1))

    def transform(self, R):
        R = torch.as_tensor(R, dtype=torch.float64)
        r = torch.linalg.vector_norm(R[:, self._a] - R[:, self._b], dim=-1)
        if torch.any(r == 0):
            s, k = (int(i) for i in torch.nonzero(r == 0)[0])
            raise ValueError(f"Geometry {s} has atoms {int(self._a[k])} and {int(self._b[k])} at the same "
                             "position; the descriptor is undefined there. Remove or repair this geometry.")
        return super().transform(R)

    def permutation_index(self, perms):
        """The pair-index permutations (:func:`~gdmlkit.symmetry.permutation_desc_index`)."""
        return permutation_desc_index(perms)


class AutodiffInverseDistanceDescriptor(PairDescriptor):
    """Inverse distances 1 / r_ab (1/L), by AD: the same numbers as
    :class:`~gdmlkit.descriptors.InverseDistanceDescriptor`."""

    name = "inverse_distance"

    @property
    def params(self):
        return {"n_atoms": self.n_atoms}

    def pair_function(self, r):
        return 1.0 / r


#: Built-in AD descriptors by name (what a model file stores); filled by the modules defining them.
DESCRIPTORS = {AutodiffInverseDistanceDescriptor.name: AutodiffInverseDistanceDescriptor}


def make_descriptor(spec):
    """A built-in descriptor from its :meth:`~AutodiffDescriptor.spec` dict."""
    name = spec["name"]
    if name not in DESCRIPTORS:
        raise ValueError(f"Unknown descriptor {name!r}; expected one of {sorted(DESCRIPTORS)}.")
    params = dict(spec["params"])
    if "base" in params:
        params["base"] = make_descriptor(params["base"])
    return DESCRIPTORS[name](**params)


def as_autodiff(descriptor):
    """The AD form of a descriptor: itself if it is one; the inverse-distance (minimum-image) AD
    descriptor for the hand-derived inverse-distance ones."""
    if isinstance(descriptor, AutodiffDescriptor):
        return descriptor
    from .minimum_image import MinimumImageDescriptor
    from .periodic import PeriodicInverseDistanceDescriptor

    base = AutodiffInverseDistanceDescriptor(descriptor.n_atoms)
    if isinstance(descriptor, PeriodicInverseDistanceDescriptor):
        return MinimumImageDescriptor(base, descriptor.cell, descriptor.pbc)
    if type(descriptor) is InverseDistanceDescriptor:
        return base
    raise TypeError(f"No AD form of {type(descriptor).__name__}; write it as an AutodiffDescriptor.")


def descriptor_permutations(descriptor, perms):
    """Descriptor index permutations (P, D) of atom permutations `perms` (P, n_atoms) for any descriptor."""
    if hasattr(descriptor, "permutation_index"):
        return descriptor.permutation_index(perms)
    return permutation_desc_index(perms)
