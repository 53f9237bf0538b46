"""The coarse-grained estimators in the gdmlkit model file (:mod:`gdmlkit.model_format`): one .npz, no pickle,
written atomically, whose arrays are named by part (``member3/R_desc_``, ``network/state/...``,
``prior/r0_``) and whose meta holds each part's own meta."""

import numpy as np

from ..model_format import estimator_class
from ..models import GDMLRegressor
from ..models.io import model_state, params_from_json, params_to_json, restore_model
from .prior import HarmonicPrior

__all__ = ["ensemble_state", "restore_ensemble", "cgnet_state", "restore_cgnet"]

_PRIOR_ARRAYS = ("bonds_", "angles_", "r0_", "k_bond_", "theta0_", "k_angle_")


def _part(data, prefix):
    """The arrays of `data` under `prefix` (e.g. 'member0/'), with the prefix dropped."""
    return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}


def _prefixed(prefix, arrays):
    return {prefix + k: v for k, v in arrays.items()}


def _template_to_json(template):
    """An unfitted member or network template as {'estimator': class name, 'params': ...} (None stays None)."""
    if template is None:
        return None
    params = params_to_json(template) if isinstance(template, GDMLRegressor) else template.get_params()
    return {"estimator": type(template).__name__, "params": params}


def _template_from_json(spec, device):
    if spec is None:
        return None
    cls = estimator_class(spec["estimator"])
    params = params_from_json(spec["params"], device) if issubclass(cls, GDMLRegressor) \
        else dict(spec["params"], device=device)
    return cls(**params)


def _own_params(model):
    """The estimator's parameters with its template serialised (key 'estimator' or 'network')."""
    params = model.get_params()
    for name in ("estimator", "network"):
        if name in params:
            params[name] = _template_to_json(params[name])
    return params


def _prior_state(prior):
    if prior is None:
        return None, {}
    return {"kT": prior.kT}, {f"prior/{k}": np.asarray(getattr(prior, k)) for k in _PRIOR_ARRAYS}


def _restore_prior(meta, data):
    if meta is None:
        return None
    prior = HarmonicPrior(meta["kT"])
    for name, value in _part(data, "prior/").items():
        setattr(prior, name, np.asarray(value))
    return prior


def ensemble_state(model):
    """(meta, arrays) of a fitted :class:`~gdmlkit.coarse_graining.CGGDMLRegressor`."""
    prior_meta, arrays = _prior_state(model.prior_)
    members = []
    for i, member in enumerate(model.estimators_):
        meta, member_arrays = model_state(member)
        members.append({"estimator": type(member).__name__, **meta})
        arrays.update(_prefixed(f"member{i}/", member_arrays))
    for i, subset in enumerate(model.subsets_):
        arrays[f"subset{i}"] = np.asarray(subset, dtype=np.int64)
    arrays["z_"] = model.z_
    if model.strata_ is not None:
        arrays["strata_"] = model.strata_
    cv = None
    if model.cv_results_ is not None:
        cv = {"params": [list(p) for p in model.cv_results_["params"]]}
        arrays["cv_force_mse"] = np.asarray(model.cv_results_["force_mse"])
        arrays["cv_ensemble_force_mse"] = np.asarray(model.cv_results_["ensemble_force_mse"])
        arrays["cv_member_variance"] = np.asarray(model.cv_results_["member_variance"])
        cv["best_index"] = int(model.cv_results_["best_index"])
    meta = {"params": _own_params(model), "members": members, "prior_": prior_meta, "cv_results_": cv,
            "sigma_": model.sigma_, "lam_": model.lam_, "n_beads_": model.n_beads_}
    return meta, arrays


def restore_ensemble(cls, data, meta, device):
    """A fitted CGGDMLRegressor from the arrays and meta of its file."""
    params = dict(meta["params"], estimator=_template_from_json(meta["params"]["estimator"], device))
    for name in ("sigma", "lam"):  # grids come back from JSON as lists
        if isinstance(params[name], list):
            params[name] = tuple(params[name])
    model = cls(**params)
    model.estimators_ = [restore_model(estimator_class(m["estimator"]), _part(data, f"member{i}/"), m, device)
                         for i, m in enumerate(meta["members"])]
    model.subsets_ = [np.asarray(data[f"subset{i}"]) for i in range(len(meta["members"]))]
    model.z_ = np.asarray(data["z_"], dtype=np.int64)
    model.strata_ = np.asarray(data["strata_"]) if "strata_" in data else None
    cv = meta["cv_results_"]
    model.cv_results_ = None if cv is None else {
        "params": [(None if s is None else float(s), float(lam)) for s, lam in cv["params"]],
        "force_mse": np.asarray(data["cv_force_mse"]), "ensemble_force_mse": np.asarray(data["cv_ensemble_force_mse"]),
        "member_variance": np.asarray(data["cv_member_variance"]), "best_index": cv["best_index"]}
    model.prior_ = _restore_prior(meta["prior_"], data)
    model.sigma_, model.lam_, model.n_beads_ = meta["sigma_"], meta["lam_"], meta["n_beads_"]
    model._predictor = None
    return model


def cgnet_state(model):
    """(meta, arrays) of a fitted :class:`~gdmlkit.coarse_graining.CGNetRegressor`."""
    prior_meta, arrays = _prior_state(model.prior_)
    net_meta, net_arrays = model.network_._model_state()
    arrays.update(_prefixed("network/", net_arrays))
    meta = {"params": _own_params(model), "network_": {"estimator": type(model.network_).__name__, **net_meta},
            "prior_": prior_meta, "n_beads_": model.n_beads_}
    return meta, arrays


def restore_cgnet(cls, data, meta, device):
    """A fitted CGNetRegressor from the arrays and meta of its file."""
    model = cls(**dict(meta["params"], network=_template_from_json(meta["params"]["network"], device)))
    net = meta["network_"]
    model.network_ = estimator_class(net["estimator"])._from_saved(_part(data, "network/"), net, device)
    model.prior_ = _restore_prior(meta["prior_"], data)
    model.n_beads_ = meta["n_beads_"]
    return model
