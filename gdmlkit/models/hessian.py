"""Hessians (second derivatives of the predicted energy) of fitted kernel models, and harmonic frequencies.

The fitted energy is, for any descriptor x(R) and radial base kernel ``k = kappa(|x - x'|)``::

    E(R) = c - sum_{j,P} a(r_jP) (d_jP . w_jP) + sum_{j,P} aE_j kappa(r_jP),
    d_jP = x(R) - S_P x_j,  r_jP = |d_jP|,  a = -kappa'(r) / r,  w_j = J_j alpha_j

(:class:`~gdmlkit.models.GDMLPredictor`). :func:`predict_hessian` writes this as one differentiable torch function
of R, through the AD form of the model's descriptor (:func:`~gdmlkit.descriptors.as_autodiff`; the
hand-derived inverse distances have one) and kernel (Matérn-5/2 for the default path), and takes its
Hessian with ``torch.func.hessian``, a chunk of training points at a time (the Hessian is a sum over
them). a is smooth in s = r^2; below ``R_SMALL * sigma`` it is its Taylor series in s, so queries on a
training point are differentiable too.
"""

import numpy as np
import torch
from ase import units
from ase.data import atomic_masses

from ..base import check_is_fitted
from ..descriptors import as_autodiff
from ..kernels.radial import R_SMALL, Matern52Kernel
from ..units import energy_units_to_eV, length_units_to_A
from ..utils.validation import check_positions

__all__ = ["predict_hessian", "harmonic_frequencies", "model_frequencies"]

#: Training points x descriptor entries x 3 n_atoms tangents per Hessian evaluation (memory ~ 8x this in bytes).
HESSIAN_CHUNK = 2**22


def _energy_terms(kernel, sigma):
    """(a(s), kappa(s)) of squared distances s, differentiable everywhere (Taylor series near 0)."""
    d2, d4, _ = kernel._derivatives_at_zero(sigma)
    s_small = (R_SMALL * sigma) ** 2

    def slope(r):
        return torch.func.jvp(lambda t: kernel.profile(t, sigma), (r,), (torch.ones_like(r),))

    def terms(s):
        big = s > s_small
        r = torch.sqrt(torch.where(big, s, s_small))
        k, k1 = slope(r)
        a = torch.where(big, -k1 / r, -(d2 + d4 / 6.0 * s))
        k = torch.where(big, k, 1.0 + d2 / 2.0 * s + d4 / 24.0 * s * s)
        return a, k

    return terms


def predict_hessian(model, X, batch_size=None):
    """Hessian of the predicted energy, d^2 E / dR dR^T, of a fitted GDML/sGDML/BIGDML model.

    Parameters
    ----------
    model : GDMLRegressor or BIGDMLRegressor
        Fitted; any descriptor and radial kernel (the default path through their AD forms).
    X : Dataset or array (n, n_atoms, 3)
        Positions (training length unit L).
    batch_size : int, optional
        Geometries per vectorised Hessian (default: as many as keep the work near ``HESSIAN_CHUNK``).

    Returns
    -------
    ndarray (n, 3 n_atoms, 3 n_atoms)
        Symmetric Hessians in energy unit / L^2 (rows and columns ordered atom, xyz).
    """
    check_is_fitted(model, "R_d_desc_alpha_")
    R = check_positions(X.R if hasattr(X, "R") else X, n_atoms=model.n_atoms_)
    desc = as_autodiff(model._make_descriptor(model.n_atoms_))
    kernel = model.base_kernel() or Matern52Kernel()
    terms = _energy_terms(kernel, float(model.sigma))
    dp = torch.as_tensor(model._desc_perms(model.perms_), dtype=torch.long)
    n_train, D = model.R_desc_.shape
    XP = torch.as_tensor(model.R_desc_)[:, dp].reshape(-1, D)
    WP = torch.as_tensor(model.R_d_desc_alpha_)[:, dp].reshape(-1, D)
    aE = None if model.alphas_E_ is None else torch.as_tensor(model.alphas_E_).repeat_interleave(dp.shape[0])
    dim = 3 * model.n_atoms_
    step = max(1, HESSIAN_CHUNK // (D * dim))
    chunks = [slice(s, s + step) for s in range(0, XP.shape[0], step)]

    def energy(Rq, t):
        d = desc.forward(Rq)[None, :] - XP[t]
        a, k = terms((d * d).sum(-1))
        E = -(a * (d * WP[t]).sum(-1)).sum()
        return E if aE is None else E + (aE[t] * k).sum()

    b = batch_size or max(1, HESSIAN_CHUNK // (min(step, XP.shape[0]) * D * dim))
    Rt = torch.from_numpy(np.ascontiguousarray(R))
    out = np.zeros((len(R), dim, dim))
    for s in range(0, len(R), b):
        for t in chunks:
            H = torch.func.vmap(torch.func.hessian(lambda Rq: energy(Rq, t)))(Rt[s:s + b])
            out[s:s + b] += H.reshape(-1, dim, dim).numpy()
    return out


def harmonic_frequencies(hessian, masses, positions=None, energy_unit="eV", length_unit="Ang"):
    """Harmonic vibrational frequencies (cm^-1) of a Hessian, imaginary ones as negative numbers.

    Parameters
    ----------
    hessian : array (3 n_atoms, 3 n_atoms)
        d^2 E / dR dR^T in energy_unit / length_unit^2.
    masses : array (n_atoms,)
        Atomic masses (amu).
    positions : array (n_atoms, 3), optional
        With positions, the translations and rotations (about the centre of mass) are projected out
        and the 3 n_atoms - 6 (- 5 if linear) internal frequencies returned; without, all 3 n_atoms (as
        ASE's ``Vibrations.get_frequencies``, real parts, imaginary ones negative).
    energy_unit, length_unit : str
        Units of the Hessian.

    Returns
    -------
    ndarray, ascending.
    """
    H = np.asarray(hessian, dtype=np.float64) * energy_units_to_eV(energy_unit) / length_units_to_A(length_unit) ** 2
    m = np.repeat(np.asarray(masses, dtype=np.float64), 3)
    Hm = 0.5 * (H + H.T) / np.sqrt(np.outer(m, m))  # eV / (Å^2 amu)
    if positions is not None:
        R = np.asarray(positions, dtype=np.float64) * length_units_to_A(length_unit)
        R = R - np.average(R, axis=0, weights=m[::3])
        eye = np.eye(3)
        rigid = [np.tile(eye[k], len(R)) for k in range(3)] + [np.cross(eye[k], R).ravel() for k in range(3)]
        T = np.array(rigid).T * np.sqrt(m)[:, None]  # mass-weighted rigid motions (3N, 6)
        U, sv, _ = np.linalg.svd(T, full_matrices=True)
        k = int(np.sum(sv > 1e-6 * sv.max()))  # 5 for a linear molecule
        B = U[:, k:]  # orthonormal basis of the internal motions
        Hm = B.T @ Hm @ B
    lam = np.linalg.eigvalsh(Hm)
    s = units._hbar * 1e10 / np.sqrt(units._e * units._amu)  # sqrt(eV / (Å^2 amu)) -> eV
    return np.sign(lam) * s * np.sqrt(np.abs(lam)) / units.invcm


def model_frequencies(model, R):
    """Harmonic frequencies (cm^-1, ascending, rigid motions projected out) of a fitted molecular model at
    one geometry R (n_atoms, 3), ideally a minimum; masses from the model's atomic numbers, units from its
    training data (eV and Å assumed where it has none)."""
    H = predict_hessian(model, np.asarray(R)[None])[0]
    return harmonic_frequencies(H, atomic_masses[model.z_], positions=R, energy_unit=model.energy_unit_ or "eV",
                                length_unit=model.length_unit_ or "Ang")
