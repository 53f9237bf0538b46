"""Cross-validated choice of the kernel length scale sigma."""

import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .metrics import prediction_errors
from .models import GDMLRegressor

__all__ = ["select_sigma", "SigmaSearchResult"]


@dataclass
class SigmaSearchResult:
    """Outcome of :func:`select_sigma`.

    Attributes
    ----------
    best_sigma : float
    sigmas : ndarray (n_sigmas,)
    force_mae : ndarray (n_sigmas, n_folds)
        Validation force MAE of each fold (energy unit / length unit).
    best_estimator : estimator or None
        Refit on all the data with ``best_sigma`` (None if ``refit=False``).
    """

    best_sigma: float
    sigmas: np.ndarray
    force_mae: np.ndarray
    best_estimator: object = field(default=None, repr=False)

    def table(self):
        """Plain-text table: sigma, mean and std of the validation force MAE."""
        rows = ["sigma    force MAE (mean ± std over folds)"]
        for s, m in zip(self.sigmas, self.force_mae):
            mark = "  <- best" if s == self.best_sigma else ""
            rows.append(f"{s:<8g} {m.mean():.4g} ± {m.std():.2g}{mark}")
        return "\n".join(rows)


def select_sigma(estimator, X, y=None, E=None, *, z=None, sigmas=(5, 10, 15, 20, 30, 50), cv=3,
                 random_state=0, refit=True, progress=True):
    """Choose sigma by k-fold cross-validation of the force MAE; optionally refit.

    Parameters
    ----------
    estimator : GDMLRegressor or BIGDMLRegressor
        Its other parameters are kept; permutations (for BIGDML the space group of the
        reference found from all of X) are found once on all data and used in every fold.
    X : Dataset or array (n, n_atoms, 3)
        A periodic estimator needs a Dataset with one fixed cell; every fold keeps it.
    y, E, z : arrays, optional
        Forces, energies and atomic numbers when X is an array.
    sigmas : sequence of float
    cv : int
        Number of folds (>= 2).
    random_state : int
        Seed of the fold shuffle.
    refit : bool
        Refit on all data with the best sigma.
    progress : bool

    Returns
    -------
    SigmaSearchResult

    Examples
    --------
    >>> result = select_sigma(GDMLRegressor(), train, sigmas=[10, 20])  # doctest: +SKIP
    >>> model = result.best_estimator
    """
    if not isinstance(estimator, GDMLRegressor):
        raise TypeError(f"estimator must be a GDMLRegressor; got {type(estimator).__name__}.")
    periodic = estimator.is_periodic
    if periodic and getattr(X, "cell", None) is None:
        raise ValueError(f"{type(estimator).__name__} is periodic: pass a Dataset with its cell "
                         "(load_dataset of a periodic file, or Dataset(R, z, E, F, cell=..., pbc=...)).")
    if getattr(X, "is_periodic", False) and not periodic:
        raise ValueError("The dataset is periodic (it has a cell with pbc); GDMLRegressor would ignore the periodic "
                         "images. Use BIGDMLRegressor.")
    R, F, E, z, eu, lu = estimator._unpack(X, y, E, z, None, None)
    if len(sigmas) == 0 or any(s <= 0 for s in sigmas):
        raise ValueError(f"sigmas must be a non-empty list of positive numbers; got {list(sigmas)}.")
    n = len(R)
    if not 2 <= cv <= n // 2:
        raise ValueError(f"cv == {cv}, must be between 2 and n_samples // 2 = {n // 2}.")
    base = type(estimator)(**estimator.get_params())
    if periodic:
        base.set_cell(X)
    base.set_params(perms=base._resolve_perms(R, z), progress=False)
    folds = np.array_split(np.random.default_rng(random_state).permutation(n), cv)
    mae = np.zeros((len(sigmas), cv))
    jobs = [(i, k) for i in range(len(sigmas)) for k in range(cv)]
    for i, k in tqdm(jobs, desc="Cross-validating sigma", disable=not progress):
        val = folds[k]
        tr = np.concatenate([folds[j] for j in range(cv) if j != k])
        model = type(base)(**{**base.get_params(), "sigma": float(sigmas[i])})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if periodic:  # the fold keeps the dataset's cell
                model.fit(X[tr])
            else:
                model.fit(R[tr], F[tr], E=None if E is None else E[tr], z=z)
        _, F_pred = model.predict(X[val] if periodic else R[val])
        mae[i, k] = prediction_errors(None, F[val], None, F_pred)["force_mae"]
    best = float(sigmas[int(np.argmin(mae.mean(1)))])
    best_est = None
    if refit and periodic:  # its own symmetry search again, for the full symmetry_ report (same data, same group)
        best_est = type(estimator)(**{**estimator.get_params(), "sigma": best}).fit(X)
    elif refit:
        best_est = type(base)(**{**base.get_params(), "sigma": best})
        best_est.fit(R, F, E=E, z=z, energy_unit=eu, length_unit=lu)
    return SigmaSearchResult(best, np.asarray(sigmas, dtype=float), mae, best_est)
