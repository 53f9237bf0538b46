"""Error metrics for energies and forces, and scikit-learn-compatible scorers."""

import numpy as np

__all__ = ["prediction_errors", "force_mae_scorer", "force_rmse_scorer"]


def prediction_errors(E_true, F_true, E_pred, F_pred):
    """MAE and RMSE of energies (per geometry) and force components.

    Parameters
    ----------
    E_true, E_pred : array (n,) or None
    F_true, F_pred : array (n, n_atoms, 3)

    Returns
    -------
    dict with 'force_mae', 'force_rmse' and, when energies are given, 'energy_mae', 'energy_rmse'.
    """
    dF = np.asarray(F_pred, dtype=float) - np.asarray(F_true, dtype=float).reshape(np.shape(F_pred))
    out = {"force_mae": float(np.mean(np.abs(dF))), "force_rmse": float(np.sqrt(np.mean(dF**2)))}
    if E_true is not None and E_pred is not None:
        dE = np.asarray(E_pred, dtype=float).ravel() - np.asarray(E_true, dtype=float).ravel()
        out.update(energy_mae=float(np.mean(np.abs(dE))), energy_rmse=float(np.sqrt(np.mean(dE**2))))
    return out


def _forces(X, y):
    if y is not None:
        return y
    if getattr(X, "F", None) is None:
        raise ValueError("Force labels are needed to score: pass y=F, or a Dataset with forces.")
    return X.F


def force_mae_scorer(estimator, X, y=None):
    """Negative force MAE (greater is better), for ``scoring=`` in scikit-learn searches."""
    _, F = estimator.predict(X)
    return -prediction_errors(None, _forces(X, y), None, F)["force_mae"]


def force_rmse_scorer(estimator, X, y=None):
    """Negative force RMSE (greater is better)."""
    _, F = estimator.predict(X)
    return -prediction_errors(None, _forces(X, y), None, F)["force_rmse"]
