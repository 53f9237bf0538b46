"""The :class:`Dataset` container: geometries of one system with energy/force labels."""

import hashlib

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.symbols import Symbols

from gdmlkit.units import (
    energy_conversion,
    length_conversion,
    normalize_energy_unit,
    normalize_length_unit,
)
from gdmlkit.utils.validation import (
    check_atomic_numbers,
    check_energies,
    check_finite,
    check_forces,
    check_positions,
)

__all__ = ["Dataset", "validate_cells"]


def validate_cells(cell, pbc, n_samples):
    """Return (cell, pbc) as float64 (n_samples, 3, 3) and bool (3,), or (None, None)."""
    if cell is None:
        if pbc is not None:
            raise ValueError(
                "pbc was given without a cell; pass cell= (lattice vectors as rows) too, "
                "or drop pbc for a non-periodic system."
            )
        return None, None
    cell = np.asarray(cell, dtype=np.float64)
    if cell.shape == (3, 3):
        cell = np.repeat(cell[None], n_samples, axis=0)
    if cell.shape != (n_samples, 3, 3):
        raise ValueError(
            f"cell must have shape (3, 3) or (n_samples, 3, 3) = ({n_samples}, 3, 3) with the "
            f"lattice vectors as rows; got {cell.shape}."
        )
    check_finite("cell", cell)
    det = np.linalg.det(cell)
    # relative test: |det| compared with the volume of a box with the same edge lengths
    singular = np.abs(det) <= 1e-10 * np.prod(np.linalg.norm(cell, axis=2), axis=1)
    if singular.any():
        i = int(np.argmax(singular))
        raise ValueError(
            f"cell of sample {i} is singular (det = {det[i]:.3g}): its lattice vectors (rows) "
            "are linearly dependent. Pass three independent vectors, or cell=None for a "
            "non-periodic system."
        )
    pbc = np.asarray(True if pbc is None else pbc)
    if pbc.dtype != bool or pbc.shape not in ((), (3,)):
        raise ValueError(f"pbc must be a bool or three bools (one per cell vector); got {pbc.tolist()!r}.")
    return cell, np.broadcast_to(pbc, (3,)).copy()


def _joined(values):
    """Unique non-empty strings in first-seen order, joined with ' + '."""
    return " + ".join(dict.fromkeys(v for v in values if v))


class Dataset:
    """Geometries of one system (fixed atoms, fixed order) with optional labels.

    Parameters
    ----------
    R : array_like, shape (n_samples, n_atoms, 3)
        Positions in `length_unit`. A single geometry (n_atoms, 3) is promoted.
    z : array_like of int, shape (n_atoms,)
        Atomic numbers.
    E : array_like, shape (n_samples,) or (n_samples, 1), optional
        Energies in `energy_unit`.
    F : array_like, shape (n_samples, n_atoms, 3), optional
        Forces in `energy_unit`/`length_unit`.
    energy_unit, length_unit : str
        Required. Any name or alias known to :mod:`gdmlkit.units`
        (``'kcal/mol'``, ``'eV'``, ``'Ang'``, ``'Bohr'`` ...); stored canonical.
    cell : array_like, shape (3, 3) or (n_samples, 3, 3), optional
        Lattice vectors as rows (ASE convention), in `length_unit`. Always stored
        as (n_samples, 3, 3).
    pbc : bool or array_like of 3 bools, optional
        Periodicity along each cell vector; defaults to all True when `cell` is given.
    name, theory : str
        Free-text description of the system and of the level of theory.

    Notes
    -----
    Arrays already of the right dtype are stored without a copy. ``shape`` equals
    ``R.shape`` and ``ds[idx, ...]`` is accepted, so scikit-learn's splitters and
    ``sklearn.utils._safe_indexing`` work on a Dataset directly.
    """

    def __init__(self, R, z, E=None, F=None, *, energy_unit, length_unit, cell=None, pbc=None,
                 name="", theory=""):
        self.R = check_positions(R)
        n_samples, n_atoms = self.R.shape[:2]
        self.z = check_atomic_numbers(z, n_atoms)
        self.E = None if E is None else check_energies(E, n_samples)
        self.F = None if F is None else check_forces(F, self.R.shape)
        self.energy_unit = normalize_energy_unit(energy_unit)
        self.length_unit = normalize_length_unit(length_unit)
        self.cell, self.pbc = validate_cells(cell, pbc, n_samples)
        self.name = str(name)
        self.theory = str(theory)

    @property
    def n_samples(self):
        """Number of geometries."""
        return self.R.shape[0]

    @property
    def n_atoms(self):
        """Number of atoms per geometry."""
        return self.R.shape[1]

    @property
    def shape(self):
        """``R.shape`` = (n_samples, n_atoms, 3)."""
        return self.R.shape

    @property
    def is_periodic(self):
        """True if a cell is set and periodic along at least one of its vectors."""
        return self.cell is not None and bool(self.pbc.any())

    @property
    def formula(self):
        """Chemical formula of one geometry (Hill order), e.g. ``'C2H6O'``."""
        return Symbols(self.z).get_chemical_formula()

    def __len__(self):
        return self.n_samples

    def _replace(self, **changes):
        fields = dict(R=self.R, z=self.z, E=self.E, F=self.F, energy_unit=self.energy_unit,
                      length_unit=self.length_unit, cell=self.cell, pbc=self.pbc,
                      name=self.name, theory=self.theory)
        fields.update(changes)
        return Dataset(**fields)

    def __getitem__(self, idx):
        """Select samples by int, slice, integer array or boolean mask; returns a new Dataset.

        An int gives a 1-sample Dataset. ``ds[idx, ...]`` is read as ``ds[idx]``.
        """
        if isinstance(idx, tuple) and len(idx) == 2 and idx[1] is Ellipsis:
            idx = idx[0]
        sel = np.atleast_1d(np.arange(self.n_samples)[idx])
        if sel.size == 0:
            raise IndexError(f"index {idx!r} selects no samples; a Dataset needs at least one.")
        return self._replace(
            R=self.R[sel],
            z=self.z.copy(),
            E=None if self.E is None else self.E[sel],
            F=None if self.F is None else self.F[sel],
            cell=None if self.cell is None else self.cell[sel],
            pbc=None if self.pbc is None else self.pbc.copy(),
        )

    def subset(self, idx):
        """Alias of ``self[idx]``."""
        return self[idx]

    def to_units(self, energy_unit=None, length_unit=None):
        """Return a copy in other units (None keeps the current one).

        R and cell scale with length, E with energy, F with energy/length.
        """
        eu = self.energy_unit if energy_unit is None else normalize_energy_unit(energy_unit)
        lu = self.length_unit if length_unit is None else normalize_length_unit(length_unit)
        fe = energy_conversion(self.energy_unit, eu)
        fl = length_conversion(self.length_unit, lu)
        return self._replace(
            R=self.R * fl,
            E=None if self.E is None else self.E * fe,
            F=None if self.F is None else self.F * (fe / fl),
            cell=None if self.cell is None else self.cell * fl,
            energy_unit=eu,
            length_unit=lu,
        )

    def md5(self):
        """Hex MD5 fingerprint of the values of z, R, E, F (those present).

        Computed as sGDML's ``dataset_md5`` (z as uint8), so it matches the ``md5``
        key of sGDML dataset files. It changes with units, since values change.
        """
        digest = hashlib.md5()
        for a in (self.z.astype(np.uint8), self.R, self.E, self.F):
            if a is not None:
                digest.update(hashlib.md5(np.ascontiguousarray(a)).digest())
        return digest.hexdigest()

    def to_atoms(self):
        """Return one :class:`ase.Atoms` per sample, in Å, with eV / eV/Å labels.

        Labels are attached as a ``SinglePointCalculator``; cell and pbc are set
        when the dataset has a cell.
        """
        fe = energy_conversion(self.energy_unit, "eV")
        fl = length_conversion(self.length_unit, "Ang")
        frames = []
        for i in range(self.n_samples):
            atoms = Atoms(numbers=self.z, positions=self.R[i] * fl)
            if self.cell is not None:
                atoms.set_cell(self.cell[i] * fl)
                atoms.set_pbc(self.pbc)
            if self.E is not None or self.F is not None:
                atoms.calc = SinglePointCalculator(
                    atoms,
                    energy=None if self.E is None else float(self.E[i] * fe),
                    forces=None if self.F is None else self.F[i] * (fe / fl),
                )
            frames.append(atoms)
        return frames

    def __repr__(self):
        labels = "+".join(k for k in ("E", "F") if getattr(self, k) is not None) or "none"
        return (
            f"Dataset(name={self.name!r}, n_samples={self.n_samples}, n_atoms={self.n_atoms}, "
            f"formula={self.formula!r}, labels={labels!r}, energy_unit={self.energy_unit!r}, "
            f"length_unit={self.length_unit!r}, periodic={self.is_periodic})"
        )

    @classmethod
    def concatenate(cls, datasets):
        """Join datasets of the same system along the sample axis.

        All must have the same z (same order), units, labels present and cell/pbc
        setting. Differing names/theories are joined with ' + '.
        """
        datasets = list(datasets)
        if not datasets:
            raise ValueError("concatenate needs at least one Dataset; got an empty sequence.")
        first = datasets[0]
        for i, ds in enumerate(datasets):
            if not isinstance(ds, Dataset):
                raise TypeError(f"datasets[{i}] is a {type(ds).__name__}, not a Dataset.")
            if not np.array_equal(ds.z, first.z):
                raise ValueError(
                    f"datasets[{i}] ({ds.formula}, {ds.n_atoms} atoms) does not list the same atoms in "
                    f"the same order as datasets[0] ({first.formula}, {first.n_atoms} atoms); "
                    "only datasets of one system can be joined."
                )
            if (ds.energy_unit, ds.length_unit) != (first.energy_unit, first.length_unit):
                raise ValueError(
                    f"datasets[{i}] is in {ds.energy_unit} and {ds.length_unit} but datasets[0] in "
                    f"{first.energy_unit} and {first.length_unit}; convert first with "
                    f"ds.to_units(energy_unit={first.energy_unit!r}, length_unit={first.length_unit!r})."
                )
            for label in ("E", "F"):
                if (getattr(ds, label) is None) != (getattr(first, label) is None):
                    raise ValueError(
                        f"datasets[{i}] {'lacks' if getattr(ds, label) is None else 'has'} {label} "
                        f"but datasets[0] {'has' if getattr(ds, label) is None else 'lacks'} it; "
                        "all datasets must carry the same labels."
                    )
            if (ds.cell is None) != (first.cell is None) or (
                ds.cell is not None and not np.array_equal(ds.pbc, first.pbc)
            ):
                raise ValueError(
                    f"datasets[{i}] has cell/pbc {ds.pbc} but datasets[0] has {first.pbc} "
                    "(None = no cell); periodic and non-periodic data cannot be joined."
                )

        def joined(label):
            parts = [getattr(ds, label) for ds in datasets]
            return None if parts[0] is None else np.concatenate(parts)

        return cls(
            joined("R"), first.z.copy(), joined("E"), joined("F"),
            energy_unit=first.energy_unit, length_unit=first.length_unit,
            cell=joined("cell"), pbc=first.pbc,
            name=_joined(ds.name for ds in datasets), theory=_joined(ds.theory for ds in datasets),
        )
