"""Read and write datasets: sGDML npz, revised-MD17 npz and every format ASE reads."""

import errno
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.io.formats import string2index

from gdmlkit.data.dataset import Dataset
from gdmlkit.units import normalize_energy_unit, normalize_length_unit
from gdmlkit.utils.atomic import atomic_savez

__all__ = ["load_dataset", "save_dataset", "load_example", "example_path", "EXAMPLES"]

_ZIP_MAGIC = b"PK\x03\x04"
#: example name -> file name (see data/README.md for provenance)
EXAMPLES = {
    "ethanol_train": "ethanol_rmd17_train.npz",
    "ethanol_test": "ethanol_rmd17_test.npz",
    "pdh_emt": "pdh_emt_300K.npz",
}
# package data: in a checkout a link to the repository's data/ folder, in a wheel a copy of its files
_EXAMPLE_DIRS = (Path(__file__).resolve().parent / "examples",)


def load_dataset(path, *, energy_unit=None, length_unit=None, index=":", energy_key=None, forces_key=None):
    """Read a :class:`Dataset` from a file.

    Supported layouts, chosen from the file's content:

    * sGDML ``.npz``: keys ``R``, ``z``, optional ``E`` ((n,) or (n, 1)), ``F``,
      ``lattice`` (lattice vectors as *columns*, transposed into ``cell`` rows),
      ``e_unit``, ``r_unit``, ``name``, ``theory``. Files without unit keys need
      `energy_unit` and `length_unit`.
    * revised-MD17 ``.npz``: keys ``coords``, ``nuclear_charges``, ``energies``,
      ``forces``. The format declares no units; its documented units, kcal/mol
      and Å, are used unless the caller passes others.
    * anything :func:`ase.io.read` reads (extxyz, ...): energies from the
      calculator or ``info['energy']``, forces from the calculator or the per-atom
      array ``forces``/``force``; cell and pbc kept when any pbc is True. Default
      units are ASE's, eV and Å. Plain-text formats (extxyz) hold the numbers as
      written, so pass the file's units if they differ (e.g. rMD17 extxyz in
      kcal/mol); code outputs (OUTCAR, ...) are converted to eV/Å by ASE. Labels
      stored under other names (e.g. ``REF_energy``, ``REF_forces``) are read with
      `energy_key` and `forces_key`.

    Parameters
    ----------
    path : str or path-like
    energy_unit, length_unit : str, optional
        Units of the values in the file. If the file declares units, these must
        agree with them (convert afterwards with :meth:`Dataset.to_units`).
    index : int, slice or str, default ':'
        Frames to read, in ASE's syntax (``':'``, ``'10:20'``, ``-1``).
    energy_key, forces_key : str, optional
        ASE-read files only: the ``info`` key of each frame's energy and the per-atom array
        of its forces (e.g. ``'REF_energy'``, ``'REF_forces'``), in place of the calculator's
        results or ``energy``/``forces``.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        No file at `path`.
    ValueError
        Unknown npz layout, missing or conflicting units, frames with different atoms, a
        given key that a frame does not hold.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "Dataset file not found", str(path))
    if path.suffix.lower() == ".npz" or _starts_with(path, _ZIP_MAGIC):
        if energy_key is not None or forces_key is not None:
            raise ValueError(f"{path} is an npz file, whose layouts fix the key names (E, F or energies, "
                             "forces); energy_key and forces_key apply to files ASE reads (extxyz, ...).")
        with np.load(path, allow_pickle=False) as data:
            dataset = _from_npz(data, path, energy_unit, length_unit)
        return dataset[string2index(index) if isinstance(index, str) else index]
    return _from_ase(path, index, energy_unit, length_unit, energy_key, forces_key)


def _starts_with(path, magic):
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(len(magic)) == magic


def _str_field(data, key):
    """A 0-d string/bytes entry of an npz as str, or None if absent."""
    if key not in data.files:
        return None
    value = data[key].item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _resolve_unit(kind, declared, given, default, path):
    """Canonical unit from the file's declaration, the caller's choice or the format default."""
    normalize = normalize_energy_unit if kind == "energy" else normalize_length_unit
    given = None if given is None else normalize(given)
    if declared is None:
        return default if given is None else given
    try:
        declared = normalize(declared)
    except ValueError as exc:
        raise ValueError(f"{path} declares an unrecognised {kind} unit: {exc}") from exc
    if given is not None and given != declared:
        raise ValueError(
            f"{path} declares its {kind} unit as {declared!r} but {kind}_unit={given!r} was passed. "
            f"The file's values are in {declared}: load without {kind}_unit, then convert with "
            f"dataset.to_units({kind}_unit={given!r})."
        )
    return declared


def _from_npz(data, path, energy_unit, length_unit):
    keys = set(data.files)
    if {"R", "z"} <= keys:
        return _from_sgdml(data, path, energy_unit, length_unit)
    if {"coords", "nuclear_charges"} <= keys:
        return Dataset(
            data["coords"], data["nuclear_charges"],
            data["energies"] if "energies" in keys else None,
            data["forces"] if "forces" in keys else None,
            energy_unit=_resolve_unit("energy", None, energy_unit, "kcal/mol", path),
            length_unit=_resolve_unit("length", None, length_unit, "Ang", path),
            name=path.stem, theory="PBE/def2-SVP (revised MD17)",
        )
    raise ValueError(
        f"{path} is an npz file of unknown layout; keys found: {sorted(keys)}. Expected the sGDML "
        "layout (R, z, E, F[, lattice, e_unit, r_unit]) or the revised-MD17 layout "
        "(coords, nuclear_charges, energies, forces)."
    )


def _from_sgdml(data, path, energy_unit, length_unit):
    keys = set(data.files)
    eu = _resolve_unit("energy", _str_field(data, "e_unit"), energy_unit, None, path)
    lu = _resolve_unit("length", _str_field(data, "r_unit"), length_unit, None, path)
    missing = [f"{kind} unit (key {key})" for kind, key, unit in
               (("energy", "e_unit", eu), ("length", "r_unit", lu)) if unit is None]
    if missing:
        raise ValueError(
            f"{path} declares no {' and no '.join(missing)}; pass energy_unit= and length_unit= "
            "(sGDML files are usually kcal/mol and Ang)."
        )
    if "cell" in keys:  # gdmlkit extension: per-sample cells as rows, with pbc
        cell = data["cell"]
    elif "lattice" in keys:  # sGDML: one lattice, vectors as columns
        cell = data["lattice"].T
    else:
        cell = None
    return Dataset(
        data["R"], data["z"],
        data["E"] if "E" in keys else None,
        data["F"] if "F" in keys else None,
        energy_unit=eu, length_unit=lu, cell=cell,
        pbc=data["pbc"] if "pbc" in keys else None,
        name=_str_field(data, "name") or path.stem,
        theory=_str_field(data, "theory") or "",
    )


def _calc_property(atoms, key):
    """`key` from the frame's calculator without computing anything; None if absent."""
    if atoms.calc is None:
        return None
    try:
        return atoms.calc.get_property(key, atoms, allow_calculation=False)
    except PropertyNotImplementedError:
        return None


def _frame_energy(atoms, key=None):
    if key is not None:
        return atoms.info.get(key)
    energy = _calc_property(atoms, "energy")
    return atoms.info.get("energy") if energy is None else energy


def _frame_forces(atoms, key=None):
    if key is not None:
        return atoms.arrays.get(key)
    forces = _calc_property(atoms, "forces")
    return atoms.arrays.get("forces", atoms.arrays.get("force")) if forces is None else forces


def _check_key(frames, key, store, label, path):
    """Raise when a given `key` is missing from the first frame's ``info`` or ``arrays`` (`store`)."""
    if key is None or key in getattr(frames[0], store):
        return
    have = sorted(k for k in getattr(frames[0], store) if k not in ("numbers", "positions"))
    raise ValueError(f"{path}: frame 0 has no {label} under {key!r}; its per-{'frame' if store == 'info' else 'atom'} "
                     f"keys are {have}. Pass the {label} key the file uses.")


def _stack_labels(values, label, path):
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        i, j = present.index(False), present.index(True)
        raise ValueError(
            f"{path}: frame {i} has no {label} but frame {j} has; every frame needs the same labels "
            "(read a sub-range with index=, or drop the label)."
        )
    return np.stack(values)


def _from_ase(path, index, energy_unit, length_unit, energy_key=None, forces_key=None):
    frames = ase.io.read(path, index=index)
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise ValueError(f"{path} holds no frames for index={index!r}.")
    _check_key(frames, energy_key, "info", "energy", path)
    _check_key(frames, forces_key, "arrays", "forces", path)
    first = frames[0]
    for i, atoms in enumerate(frames):
        if not np.array_equal(atoms.numbers, first.numbers):
            raise ValueError(
                f"{path}: frame {i} of the selection ({atoms.get_chemical_formula()}, {len(atoms)} atoms) "
                f"does not have the same atoms in the same order as frame 0 "
                f"({first.get_chemical_formula()}, {len(first)} atoms); a Dataset holds one system."
            )
        if not np.array_equal(atoms.pbc, first.pbc):
            raise ValueError(
                f"{path}: frame {i} has pbc={atoms.pbc.tolist()} but frame 0 has "
                f"pbc={first.pbc.tolist()}; all frames must share the periodicity."
            )
    periodic = bool(first.pbc.any())
    return Dataset(
        np.stack([atoms.positions for atoms in frames]),
        first.numbers,
        _stack_labels([_frame_energy(a, energy_key) for a in frames], "energy", path),
        _stack_labels([_frame_forces(a, forces_key) for a in frames], "forces", path),
        energy_unit=_resolve_unit("energy", None, energy_unit, "eV", path),
        length_unit=_resolve_unit("length", None, length_unit, "Ang", path),
        cell=np.stack([atoms.cell.array for atoms in frames]) if periodic else None,
        pbc=first.pbc.copy() if periodic else None,
        name=path.stem,
    )


def save_dataset(dataset, path):
    """Write `dataset` as an sGDML-compatible ``.npz`` at exactly `path`, atomically.

    Keys: ``R``, ``z`` (uint8), ``E`` (n, 1), ``F``, ``r_unit``, ``e_unit``, ``name``,
    ``theory``, ``type`` = 'd' and ``md5`` (= :meth:`Dataset.md5`). A fully periodic
    dataset with one cell is stored as sGDML's ``lattice`` (vectors as columns);
    any other cell setup as gdmlkit's ``cell`` (n, 3, 3, rows) and ``pbc`` keys,
    which sGDML ignores. The file is written to a temporary file beside `path` and
    moved into place, so an interrupted write leaves any previous file intact.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"save_dataset expects a Dataset; got {type(dataset).__name__}.")
    path = Path(path)
    arrays = {
        "R": dataset.R,
        "z": dataset.z.astype(np.uint8),
        "r_unit": dataset.length_unit,
        "e_unit": dataset.energy_unit,
        "name": dataset.name,
        "theory": dataset.theory,
        "type": "d",
        "md5": dataset.md5(),
    }
    if dataset.E is not None:
        arrays["E"] = dataset.E[:, None]
    if dataset.F is not None:
        arrays["F"] = dataset.F
    if dataset.cell is not None:
        if dataset.pbc.all() and (dataset.cell == dataset.cell[0]).all():
            arrays["lattice"] = dataset.cell[0].T
        else:
            arrays["cell"] = dataset.cell
            arrays["pbc"] = dataset.pbc
    atomic_savez(path, **arrays)
    return path


def load_example(name):
    """Load a small dataset shipped with gdmlkit (provenance in ``data/README.md``).

    Parameters
    ----------
    name : {'ethanol_train', 'ethanol_test', 'pdh_emt'}
        Revised-MD17 ethanol, PBE/def2-SVP, 1000 frames each, eV and Å
        (BOTNet-datasets, MIT licence); or 'pdh_emt': one H in a 32-atom Pd
        supercell, 500 frames of 300 K MD labelled by ASE's EMT, eV and Å, with a cell.

    Returns
    -------
    Dataset
    """
    return load_dataset(example_path(name))


def example_path(name):
    """Path of a shipped example file (see :func:`load_example`), e.g. to read extra arrays such
    as the ideal structure ``R_ideal`` of 'pdh_emt' with ``np.load``."""
    if name not in EXAMPLES:
        raise ValueError(f"Unknown example {name!r}; available: {sorted(EXAMPLES)}.")
    for folder in _EXAMPLE_DIRS:
        if (folder / EXAMPLES[name]).is_file():
            return folder / EXAMPLES[name]
    raise FileNotFoundError(
        errno.ENOENT,
        f"Example file {EXAMPLES[name]} not found in {[str(d) for d in _EXAMPLE_DIRS]}; "
        "it ships in the repository's data/ folder",
        EXAMPLES[name],
    )
