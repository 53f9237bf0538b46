"""Saving and loading models: a versioned .npz without pickle, written atomically.

A gdmlkit model file holds ``format = 'gdmlkit-model'``, ``format_version``, the
estimator's parameters as JSON and its fitted arrays. sGDML 1.0 model files
(``type = 'm'``) are recognised and imported into a :class:`GDMLRegressor`.
"""

import json
import os

import numpy as np

from .. import __version__
from ..exceptions import ModelFormatError
from ..units import normalize_energy_unit, normalize_length_unit
from ..utils.atomic import atomic_savez
from .base import check_is_fitted

__all__ = ["save_model", "load_model", "atomic_savez"]

FORMAT = "gdmlkit-model"
FORMAT_VERSION = 1
_ARRAYS = ("R_desc_", "R_d_desc_alpha_", "perms_", "z_")
_OPTIONAL_ARRAYS = ("alphas_", "alphas_E_", "R_train_", "cell_", "pbc_")
_ARRAY_PARAMS = ("perms", "reference")  # constructor parameters that may be arrays


def save_model(model, path):
    """Save a fitted :class:`GDMLRegressor` or :class:`BIGDMLRegressor` to `path` (.npz, no pickle)."""
    check_is_fitted(model, "R_d_desc_alpha_")
    params = model.get_params()
    for name in _ARRAY_PARAMS:
        if name in params and params[name] is not None and not isinstance(params[name], str):
            params[name] = np.asarray(params[name]).tolist()
    arrays = {name: np.asarray(getattr(model, name)) for name in _ARRAYS}
    for name in _OPTIONAL_ARRAYS:
        if getattr(model, name, None) is not None:
            arrays[name] = np.asarray(getattr(model, name))
    meta = {
        "estimator": type(model).__name__,
        "params": params,
        "c_": float(model.c_),
        "energy_unit_": model.energy_unit_,
        "length_unit_": model.length_unit_,
        "solve_info_": {k: v for k, v in (model.solve_info_ or {}).items() if isinstance(v, (int, float, str))},
        "symmetry_": getattr(model, "symmetry_", None),
        "gdmlkit_version": __version__,
    }
    atomic_savez(path, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
                 meta=np.array(json.dumps(meta)), **arrays)


def load_model(path, device="cpu"):
    """Load a gdmlkit model file (kernel or network), or import an sGDML 1.0 model file.

    Parameters
    ----------
    path : str or Path
    device : str
        Torch device for predictions.

    Returns
    -------
    GDMLRegressor, BIGDMLRegressor or NNRegressor
    """
    from .bigdml import BIGDMLRegressor
    from .gdml import GDMLRegressor

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file at {path!r}.")
    with np.load(path, allow_pickle=False) as f:
        data = {}
        for k in f.files:  # sGDML files hold pickled dicts (errors, md5s) that are never needed
            try:
                data[k] = f[k]
            except ValueError:
                continue
    if "format" in data and str(data["format"]) == FORMAT:
        version = int(data["format_version"])
        if version > FORMAT_VERSION:
            raise ModelFormatError(f"{path} has model format version {version}; this gdmlkit "
                                   f"({__version__}) reads up to {FORMAT_VERSION}. Upgrade gdmlkit.")
        meta = json.loads(str(data["meta"]))
        if meta.get("estimator") == "NNRegressor":
            from ..nn.estimator import NNRegressor

            return NNRegressor._from_saved(data, meta, device)
        estimators = {cls.__name__: cls for cls in (GDMLRegressor, BIGDMLRegressor)}
        if meta["estimator"] not in estimators:
            raise ModelFormatError(f"{path} holds a {meta['estimator']}, which this gdmlkit cannot load.")
        params = meta["params"]
        for name in _ARRAY_PARAMS:
            if params.get(name) is not None and not isinstance(params[name], str):
                params[name] = np.asarray(params[name], dtype=np.int64 if name == "perms" else np.float64)
        params["device"] = device
        model = estimators[meta["estimator"]](**params)
        for name in _ARRAYS + _OPTIONAL_ARRAYS:
            setattr(model, name, data.get(name))
        model.c_ = meta["c_"]
        model.energy_unit_ = meta["energy_unit_"]
        model.length_unit_ = meta["length_unit_"]
        model.solve_info_ = meta["solve_info_"]
        if meta.get("symmetry_") is not None:
            model.symmetry_ = meta["symmetry_"]
    elif "type" in data and str(data["type"]) == "m" and "R_d_desc_alpha" in data:
        model = _from_sgdml(data, device)
    else:
        raise ModelFormatError(f"{path} is neither a gdmlkit model (key 'format') nor an sGDML model "
                               f"(type 'm'); keys found: {sorted(data)}.")
    model.n_atoms_ = len(model.z_)
    model._predictor = None
    return model


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
    return model
