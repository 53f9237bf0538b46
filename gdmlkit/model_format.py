"""The gdmlkit model file: a versioned .npz without pickle, written atomically, and a registry of its readers.

A model file holds ``format = 'gdmlkit-model'``, ``format_version``, a JSON ``meta``
(the estimator's class name and parameters, fitted scalars, the gdmlkit version) and the
estimator's arrays. Estimators register themselves (:func:`register_estimator`) with a
``_from_saved(data, meta, device)`` class method; readers of other codes' files (sGDML)
register with :func:`register_importer`. :func:`load_model` dispatches on what the file
says, so this module knows no estimator.
"""

import json
import os

import numpy as np

from .exceptions import ModelFormatError
from .utils.atomic import atomic_savez
from .version import __version__

__all__ = ["FORMAT", "FORMAT_VERSION", "register_estimator", "estimator_class", "register_importer", "write_model_file",
           "read_model_file", "load_model"]

FORMAT = "gdmlkit-model"
FORMAT_VERSION = 1

_ESTIMATORS = {}
_IMPORTERS = []


def register_estimator(cls):
    """Class decorator: files whose meta names ``cls.__name__`` are loaded by ``cls._from_saved``."""
    _ESTIMATORS[cls.__name__] = cls
    return cls


def estimator_class(name):
    """The registered estimator class called `name`; ModelFormatError if this gdmlkit has none."""
    if name not in _ESTIMATORS:
        raise ModelFormatError(f"The file holds a {name}, which this gdmlkit cannot load "
                               f"(it reads {sorted(_ESTIMATORS)}).")
    return _ESTIMATORS[name]


def register_importer(description, detect, load):
    """Read files of another code: ``detect(data) -> bool`` on the file's arrays, ``load(data, device)``;
    `description` names such files in errors (e.g. "an sGDML model (type 'm')")."""
    _IMPORTERS.append((description, detect, load))


def write_model_file(path, estimator, meta, arrays):
    """Write `meta` (JSON-serialisable dict) and `arrays` (name -> ndarray) of `estimator` to `path` atomically."""
    meta = {"estimator": type(estimator).__name__, **meta, "gdmlkit_version": __version__}
    atomic_savez(path, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
                 meta=np.array(json.dumps(meta)), **arrays)


def read_model_file(path):
    """The arrays of the .npz at `path` as a dict (entries that would need pickle are skipped)."""
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
    return data


def load_model(path, device="cpu"):
    """Load a gdmlkit model file (kernel or network), or import a registered foreign one (sGDML 1.0).

    Parameters
    ----------
    path : str or Path
    device : str
        Torch device for predictions.

    Returns
    -------
    The estimator the file names (GDMLRegressor, BIGDMLRegressor, NNRegressor, ...).
    """
    data = read_model_file(path)
    if "format" in data and str(data["format"]) == FORMAT:
        version = int(data["format_version"])
        if version > FORMAT_VERSION:
            raise ModelFormatError(f"{path} has model format version {version}; this gdmlkit "
                                   f"({__version__}) reads up to {FORMAT_VERSION}. Upgrade gdmlkit.")
        meta = json.loads(str(data["meta"]))
        try:
            cls = estimator_class(meta.get("estimator"))
        except ModelFormatError as exc:
            raise ModelFormatError(f"{path}: {exc}") from None
        return cls._from_saved(data, meta, device)
    for _, detect, load in _IMPORTERS:
        if detect(data):
            return load(data, device)
    known = " nor ".join(["a gdmlkit model (key 'format')"] + [d for d, _, _ in _IMPORTERS])
    raise ModelFormatError(f"{path} is neither {known}; keys found: {sorted(data)}.")
