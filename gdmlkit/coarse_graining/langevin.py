"""Langevin dynamics of CG beads (BAOAB splitting, Leimkuhler and Matthews 2013), vectorised over walkers.

Units are the force field's: energy E, length L, masses in amu, so time is in units of
``sqrt(amu L^2 / E)`` (:func:`time_unit_fs`: 48.89 fs for kcal/mol and Å, 10.18 fs for eV and Å).
"""

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..units import energy_units_to_eV, length_units_to_A
from ..utils.validation import check_scalar

__all__ = ["langevin", "time_unit_fs", "LangevinTrajectory"]

_AMU_KG = 1.66053906660e-27
_EV_J = 1.602176634e-19


def time_unit_fs(energy_unit, length_unit="Ang"):
    """The integrator's time unit sqrt(amu L^2 / E) in fs (kcal/mol and Å: 48.89 fs; per-mole energies are
    per-particle energies of one mole, as in MD codes)."""
    E_J = energy_units_to_eV(energy_unit) * _EV_J
    L_m = length_units_to_A(length_unit) * 1e-10
    return float(np.sqrt(_AMU_KG * L_m**2 / E_J) * 1e15)


@dataclass
class LangevinTrajectory:
    """Frames of a :func:`langevin` run, every `stride` steps (the first frame is the start).

    Attributes
    ----------
    R, V : ndarray (n_frames, n_walkers, n_beads, 3)
        Positions (L) and velocities (L / time unit).
    E_pot, E_kin : ndarray (n_frames, n_walkers)
        Potential and kinetic energy (E).
    """

    R: np.ndarray
    V: np.ndarray
    E_pot: np.ndarray
    E_kin: np.ndarray


def langevin(force_fn, R0, *, masses, kT, dt, friction, n_steps, stride=10, V0=None, random_state=0, progress=False):
    """Integrate m dv = F dt - m gamma v dt + sqrt(2 m gamma kT) dW with BAOAB.

    Each step: B (half kick), A (half drift), O (exact Ornstein-Uhlenbeck velocity update,
    ``v <- c v + sqrt((1 - c^2) kT / m) xi`` with c = exp(-gamma dt)), A, force, B. With friction 0
    it is velocity Verlet and conserves E_pot + E_kin to O(dt^2); with friction it samples
    exp(-U / kT) with O(dt^2) configurational error.

    Parameters
    ----------
    force_fn : callable
        ``force_fn(R) -> (E, F)``: energies (n_walkers,) and forces (n_walkers, n_beads, 3) of R.
    R0 : array (n_walkers, n_beads, 3) or (n_beads, 3)
        Start positions, one row per independent walker.
    masses : float or array (n_beads,)
        Bead masses (amu).
    kT : float
        Thermal energy (E).
    dt : float
        Time step (time units, :func:`time_unit_fs`).
    friction : float
        gamma (1 / time unit); 0 gives velocity Verlet.
    n_steps, stride : int
        Steps to run; frames are kept every `stride` steps.
    V0 : array like R0, optional
        Start velocities (default: drawn from the Maxwell-Boltzmann distribution at kT).
    random_state : int
    progress : bool
        tqdm bar over steps.

    Returns
    -------
    LangevinTrajectory
    """
    R = np.array(R0, dtype=np.float64)
    if R.ndim == 2:
        R = R[None]
    if R.ndim != 3 or R.shape[2] != 3:
        raise ValueError(f"R0 must have shape (n_walkers, n_beads, 3) or (n_beads, 3); got {np.shape(R0)}.")
    check_scalar(kT, "kT", min_val=0)
    check_scalar(dt, "dt", min_val=0, include_min=False)
    check_scalar(friction, "friction", min_val=0)
    check_scalar(n_steps, "n_steps", min_val=0, integer=True)
    check_scalar(stride, "stride", min_val=1, integer=True)
    m = np.broadcast_to(np.asarray(masses, dtype=np.float64), R.shape[1:2]).copy()
    if np.any(m <= 0):
        raise ValueError("masses must be > 0 (amu).")
    m = m[None, :, None]
    rng = np.random.default_rng(random_state)
    V = np.sqrt(kT / m) * rng.standard_normal(R.shape) if V0 is None else np.array(V0, dtype=np.float64).reshape(R.shape)
    c = np.exp(-friction * dt)
    noise = np.sqrt((1.0 - c * c) * kT / m)
    E, F = force_fn(R)
    frames = []

    def keep():
        frames.append((R.copy(), V.copy(), np.asarray(E, dtype=np.float64).copy(), 0.5 * (m * V * V).sum((1, 2))))

    keep()
    for step in tqdm(range(1, n_steps + 1), desc="Langevin", disable=not progress, mininterval=1.0):
        V += 0.5 * dt * F / m
        R += 0.5 * dt * V
        if friction > 0:
            V = c * V + noise * rng.standard_normal(R.shape)
        R += 0.5 * dt * V
        E, F = force_fn(R)
        if not np.all(np.isfinite(F)):
            raise FloatingPointError(f"Non-finite forces at step {step}; reduce dt or check the force field.")
        V += 0.5 * dt * F / m
        if step % stride == 0:
            keep()
    R_, V_, Ep, Ek = (np.stack(a) for a in zip(*frames))
    return LangevinTrajectory(R_, V_, Ep, Ek)
