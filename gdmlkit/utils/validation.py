"""Input checks for public entry points. Each error says what was expected, what
arrived and how to fix it. Never implemented with ``assert``."""

import numbers

import numpy as np

__all__ = [
    "check_device",
    "check_positions",
    "check_atomic_numbers",
    "check_forces",
    "check_energies",
    "check_scalar",
    "check_finite",
]


def check_finite(name, a):
    """Raise ValueError if `a` holds NaN or inf, naming the first bad entry."""
    a = np.asarray(a)
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        n_bad = int(np.count_nonzero(~np.isfinite(a)))
        raise ValueError(
            f"{name} contains {n_bad} non-finite value(s) (NaN or inf), first at index "
            f"{tuple(int(i) for i in bad)}. Remove or repair these samples before fitting/predicting."
        )


def check_positions(R, name="R", n_atoms=None):
    """Return `R` as a float64 array of shape (n_samples, n_atoms, 3).

    A single geometry of shape (n_atoms, 3) is promoted to (1, n_atoms, 3).
    """
    try:
        R = np.asarray(R, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array of positions; got {type(R).__name__}.") from exc
    if R.ndim == 2 and R.shape[1] == 3:
        R = R[None]
    if R.ndim != 3 or R.shape[2] != 3:
        raise ValueError(
            f"{name} must have shape (n_samples, n_atoms, 3); got {R.shape}. "
            "Reshape flat coordinates with R.reshape(n_samples, -1, 3)."
        )
    if R.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 samples).")
    if R.shape[1] < 2:
        raise ValueError(f"{name} has {R.shape[1]} atom(s); inverse-distance descriptors need at least 2 atoms.")
    if n_atoms is not None and R.shape[1] != n_atoms:
        raise ValueError(
            f"{name} has {R.shape[1]} atoms per geometry but {n_atoms} were expected "
            "(the model/dataset was built for that many atoms)."
        )
    check_finite(name, R)
    return R


def check_atomic_numbers(z, n_atoms=None, name="z"):
    """Return `z` as an int64 array of shape (n_atoms,) with values in 1..118."""
    z = np.asarray(z)
    if z.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of atomic numbers (n_atoms,); got shape {z.shape}.")
    if z.dtype.kind not in "iu":
        if z.dtype.kind == "f" and np.all(np.isfinite(z)) and np.all(z == np.round(z)):
            z = z.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer atomic numbers; got dtype {z.dtype}.")
    z = z.astype(np.int64)
    if np.any((z < 1) | (z > 118)):
        raise ValueError(f"{name} holds atomic numbers outside 1..118: {sorted(set(z[(z < 1) | (z > 118)].tolist()))}.")
    if n_atoms is not None and len(z) != n_atoms:
        raise ValueError(f"{name} has {len(z)} atoms but R has {n_atoms}; z must list one atomic number per atom.")
    return z


def check_forces(F, R_shape, name="F"):
    """Return `F` as float64 with the same shape as positions `R_shape`."""
    F = np.asarray(F, dtype=np.float64)
    if F.ndim == 2 and len(R_shape) == 3 and R_shape[0] == 1:
        F = F[None]
    if F.shape != tuple(R_shape):
        if F.ndim == 3 and len(R_shape) == 3 and F.shape[0] == R_shape[0] and F.shape[1] != R_shape[1]:
            raise ValueError(f"{name} has {F.shape[1]} atoms but R has {R_shape[1]}.")
        raise ValueError(
            f"{name} must have the same shape as R {tuple(R_shape)} (n_samples, n_atoms, 3); got {F.shape}."
        )
    check_finite(name, F)
    return F


def check_energies(E, n_samples, name="E"):
    """Return `E` as a float64 array of shape (n_samples,); accepts (n_samples, 1)."""
    E = np.asarray(E, dtype=np.float64)
    if E.ndim == 2 and E.shape[1] == 1:
        E = E[:, 0]
    if E.ndim == 0 and n_samples == 1:
        E = E[None]
    if E.ndim != 1 or E.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape (n_samples,) = ({n_samples},) or ({n_samples}, 1); got {E.shape}.")
    check_finite(name, E)
    return E


def check_scalar(x, name, *, min_val=None, max_val=None, include_min=True, include_max=True, integer=False):
    """Validate a scalar hyperparameter; errors read like ``sigma == -1.0, must be > 0.``"""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(x, bool) or not isinstance(x, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a real number'}; got {type(x).__name__} {x!r}.")
    if not np.isfinite(x):
        raise ValueError(f"{name} == {x}, must be finite.")
    if min_val is not None and (x < min_val or (x == min_val and not include_min)):
        raise ValueError(f"{name} == {x}, must be {'>=' if include_min else '>'} {min_val}.")
    if max_val is not None and (x > max_val or (x == max_val and not include_max)):
        raise ValueError(f"{name} == {x}, must be {'<=' if include_max else '<'} {max_val}.")
    return x


def check_device(device):
    """torch.device of `device`; ValueError naming the fix for a CUDA device this torch cannot use."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ('cpu', 'cuda', 'cuda:1', ...): {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but torch finds no CUDA device (torch {torch.__version__}, "
                             "torch.cuda.is_available() is False): use device='cpu', or install a CUDA build of "
                             "torch on a machine with an NVIDIA GPU.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist.")
    return dev
