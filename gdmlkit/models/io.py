"""Saving and loading the kernel models (GDMLRegressor, BIGDMLRegressor) in the gdmlkit model format,
and importing sGDML 1.0 model files (``type = 'm'``) into them.

The file layout and the dispatch on load are :mod:`gdmlkit.model_format`'s.
"""

import numpy as np

from ..base import check_is_fitted
from ..descriptors import make_descriptor
from ..kernels.radial import make_kernel
from ..model_format import load_model, register_importer, write_model_file
from ..units import normalize_energy_unit, normalize_length_unit

__all__ = ["save_model", "load_model", "model_state", "restore_model", "params_to_json", "params_from_json"]

_ARRAYS = ("R_desc_", "R_d_desc_alpha_", "perms_", "z_")
_OPTIONAL_ARRAYS = ("alphas_", "alphas_E_", "R_train_", "cell_", "pbc_")
_ARRAY_PARAMS = ("perms", "reference")  # constructor parameters that may be arrays


def save_model(model, path):
    """Save a fitted :class:`GDMLRegressor` or :class:`BIGDMLRegressor` to `path` (.npz, no pickle, atomic).

    A custom descriptor or kernel is saved by name and parameters when it is a built-in one; a
    user-written one raises TypeError (the file could not rebuild it)."""
    write_model_file(path, model, *model_state(model))


def params_to_json(model):
    """The constructor parameters of a kernel model (fitted or not) as JSON: arrays as lists, built-in
    descriptors and kernels by name and parameters (:func:`params_from_json` inverts it)."""
    params = model.get_params()
    for name, value in params.items():  # perms, reference, quadruples (ChiralGDMLRegressor) ... as lists
        listed = name in _ARRAY_PARAMS and value is not None and not isinstance(value, str)
        if listed or isinstance(value, np.ndarray):
            params[name] = np.asarray(value).tolist()
    for name in ("descriptor", "kernel"):  # AD path: built-in descriptors and kernels by name and parameters
        if params.get(name) is not None and not isinstance(params[name], str):
            params[name] = params[name].spec()
    return params


def params_from_json(params, device):
    """Constructor parameters from :func:`params_to_json`, for `device`."""
    params = dict(params, device=device)
    for name in _ARRAY_PARAMS:
        if params.get(name) is not None and not isinstance(params[name], str):
            params[name] = np.asarray(params[name], dtype=np.int64 if name == "perms" else np.float64)
    if params.get("descriptor") is not None:
        params["descriptor"] = make_descriptor(params["descriptor"])
    if isinstance(params.get("kernel"), dict):
        params["kernel"] = make_kernel(params["kernel"])
    return params


def model_state(model):
    """(meta, arrays) of a fitted kernel model, as its file holds them (:func:`restore_model` inverts it)."""
    check_is_fitted(model, "R_d_desc_alpha_")
    params = params_to_json(model)
    arrays = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    for name in _OPTIONAL_ARRAYS:
        if getattr(model, name, None) is not None:
            arrays[name] = np.asarray(getattr(model, name))
    meta = {
        "params": params,
        "c_": float(model.c_),
        "energy_unit_": model.energy_unit_,
        "length_unit_": model.length_unit_,
        "solve_info_": {k: v for k, v in (model.solve_info_ or {}).items() if isinstance(v, (int, float, str))},
        "symmetry_": getattr(model, "symmetry_", None),
    }
    return meta, arrays


def restore_model(cls, data, meta, device):
    """A fitted `cls` (GDMLRegressor or BIGDMLRegressor) from the arrays and meta of its model file."""
    model = cls(**params_from_json(meta["params"], device))
    for name in _ARRAYS + _OPTIONAL_ARRAYS:
        setattr(model, name, data.get(name))
    model.c_ = meta["c_"]
    model.energy_unit_ = meta["energy_unit_"]
    model.length_unit_ = meta["length_unit_"]
    model.solve_info_ = meta["solve_info_"]
    if meta.get("symmetry_") is not None:
        model.symmetry_ = meta["symmetry_"]
    return _finish(model)


def _finish(model):
    model.n_atoms_ = len(model.z_)
    model._predictor = None
    return model


def _is_sgdml(data):
    return "type" in data and str(data["type"]) == "m" and "R_d_desc_alpha" in data


def _from_sgdml(data, device):
    """Import an sGDML 1.0 model dict into a GDMLRegressor (a BIGDMLRegressor with its
    cell if the model has a ``lattice``, vectors as columns; sGDML's minimum image).

    sGDML trains on forces scaled by 1/std with a flipped kernel sign, so its
    coefficients relate to ours by w = -std * R_d_desc_alpha (and alphas_E * std).
    """
    from .bigdml import BIGDMLRegressor
    from .gdml import GDMLRegressor

    std = float(data["std"]) if "std" in data else 1.0
    perms = np.asarray(data["perms"], dtype=np.int64)
    cls = BIGDMLRegressor if "lattice" in data else GDMLRegressor
    model = cls(sigma=float(data["sig"]), lam=float(data["lam"]), perms=perms, device=device,
                use_E_cstr="alphas_E" in data)
    if "lattice" in data:
        model.cell_ = np.asarray(data["lattice"], dtype=np.float64).T
        model.pbc_ = np.ones(3, dtype=bool)
        model.symmetry_ = {"used": "given", "n_perms": len(perms)}
    model.R_desc_ = np.ascontiguousarray(np.asarray(data["R_desc"], dtype=np.float64).T)
    model.R_d_desc_alpha_ = -std * np.asarray(data["R_d_desc_alpha"], dtype=np.float64)
    model.alphas_ = None
    model.alphas_E_ = std * np.asarray(data["alphas_E"], dtype=np.float64) if "alphas_E" in data else None
    model.perms_ = perms
    model.z_ = np.asarray(data["z"], dtype=np.int64)
    model.c_ = float(data["c"])
    model.R_train_ = None
    model.energy_unit_ = normalize_energy_unit(str(data["e_unit"])) if "e_unit" in data else None
    model.length_unit_ = normalize_length_unit(str(data["r_unit"])) if "r_unit" in data else None
    model.solve_info_ = {"solver": "imported from sGDML " + str(data.get("code_version", "?"))}
    return _finish(model)


register_importer("an sGDML model (type 'm')", _is_sgdml, _from_sgdml)
