"""Dihedral angles of bead chains and free-energy surfaces in two collective variables."""

import numpy as np

from ..units import energy_units_to_eV

__all__ = ["dihedral", "backbone_dihedrals", "boltzmann_kT", "free_energy_surface", "fes_error", "fes_kl_divergence"]

#: Boltzmann constant (eV/K, CODATA 2018)
KB_EV = 8.617333262e-5


def boltzmann_kT(temperature, energy_unit):
    """k_B T in `energy_unit` (per particle, or per mole for kcal/mol and kJ/mol): 300 K -> 0.596 kcal/mol."""
    return KB_EV * float(temperature) / energy_units_to_eV(energy_unit)


def dihedral(R, i, j, k, l):
    """Dihedral angle (degrees, in (-180, 180]) of beads i-j-k-l of geometries R (n, n_beads, 3) (IUPAC sign)."""
    R = np.asarray(R, dtype=np.float64)
    b0, b1, b2 = R[:, i] - R[:, j], R[:, k] - R[:, j], R[:, l] - R[:, k]
    b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - (b0 * b1).sum(-1, keepdims=True) * b1
    w = b2 - (b2 * b1).sum(-1, keepdims=True) * b1
    return np.degrees(np.arctan2((np.cross(b1, v) * w).sum(-1), (v * w).sum(-1)))


def backbone_dihedrals(R):
    """(phi, psi) in degrees, each (n,), of 5-bead backbones R (n, 5, 3) ordered C(ACE) N CA C N(NME):
    phi = dihedral(C_ACE, N, CA, C), psi = dihedral(N, CA, C, N_NME)."""
    R = np.asarray(R)
    if R.ndim != 3 or R.shape[1:] != (5, 3):
        raise ValueError(f"R must have shape (n, 5, 3) (beads C_ACE, N, CA, C, N_NME); got {R.shape}.")
    return dihedral(R, 0, 1, 2, 3), dihedral(R, 1, 2, 3, 4)


def free_energy_surface(phi, psi, bins=30, pseudo_count=0.5):
    """Free energy -ln p (kT) on a (bins x bins) grid over [-180, 180)^2 degrees, minimum 0.

    Parameters
    ----------
    phi, psi : array (n,)
        Angles in degrees (wrapped into [-180, 180)).
    bins : int
    pseudo_count : float
        Added to every bin, so that empty bins have a finite (high) free energy.

    Returns
    -------
    F : ndarray (bins, bins), indexed [phi bin, psi bin]
    counts : ndarray (bins, bins)
    edges : ndarray (bins + 1,)
    """
    edges = np.linspace(-180.0, 180.0, bins + 1)
    wrap = lambda a: (np.asarray(a, dtype=np.float64) + 180.0) % 360.0 - 180.0  # noqa: E731
    counts, _, _ = np.histogram2d(wrap(phi), wrap(psi), bins=[edges, edges])
    F = -np.log((counts + pseudo_count) / (counts.sum() + pseudo_count * counts.size))
    return F - F.min(), counts, edges


def fes_error(F, F_ref, counts_ref, min_count=5):
    """Mean squared free-energy difference (kT^2) over the bins with at least `min_count` reference frames,
    after the constant shift that minimises it (free energies are defined up to a constant)."""
    mask = np.asarray(counts_ref) >= min_count
    if not mask.any():
        raise ValueError(f"No bin has {min_count} reference frames; use fewer bins or a lower min_count.")
    d = (np.asarray(F) - np.asarray(F_ref))[mask]
    return float(np.mean((d - d.mean()) ** 2))


def fes_kl_divergence(F, F_ref):
    """Kullback-Leibler divergence sum p_ref ln(p_ref / p) (nats) of the distributions p ~ exp(-F) of two
    free-energy surfaces (kT) on the same grid: zero only for equal surfaces, and large both for a surface
    too flat (probability spread over bins the reference leaves empty) and for one too rugged."""
    logp = -np.asarray(F, dtype=np.float64)
    logq = -np.asarray(F_ref, dtype=np.float64)
    logp -= np.log(np.exp(logp - logp.max()).sum()) + logp.max()
    logq -= np.log(np.exp(logq - logq.max()).sum()) + logq.max()
    return float(np.sum(np.exp(logq) * (logq - logp)))
