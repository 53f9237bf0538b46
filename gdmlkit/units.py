"""Energy and length units, and conversion factors between them.

gdmlkit is unit-agnostic inside: a model works in the units of the dataset it was
fitted on and records them. Conversion happens at the boundaries (ASE calculator:
eV and Å). Values are CODATA, taken from :mod:`ase.units`.
"""

from ase import units as _u

__all__ = [
    "ENERGY_UNITS",
    "LENGTH_UNITS",
    "normalize_energy_unit",
    "normalize_length_unit",
    "energy_units_to_eV",
    "length_units_to_A",
    "energy_conversion",
    "length_conversion",
]

#: canonical energy unit name -> value in eV
ENERGY_UNITS = {
    "eV": 1.0,
    "meV": 1e-3,
    "kcal/mol": _u.kcal / _u.mol,
    "kJ/mol": _u.kJ / _u.mol,
    "Ha": _u.Hartree,
    "Ry": _u.Rydberg,
}
#: canonical length unit name -> value in Å
LENGTH_UNITS = {
    "Ang": 1.0,
    "Bohr": _u.Bohr,
    "nm": 10.0,
    "pm": 0.01,
}

_ENERGY_ALIASES = {
    "ev": "eV", "mev": "meV", "kcal/mol": "kcal/mol", "kcal mol-1": "kcal/mol",
    "kcal/mole": "kcal/mol", "kj/mol": "kJ/mol", "kj mol-1": "kJ/mol",
    "ha": "Ha", "hartree": "Ha", "eh": "Ha", "au": "Ha", "a.u.": "Ha",
    "ry": "Ry", "rydberg": "Ry",
}
_LENGTH_ALIASES = {
    "ang": "Ang", "angstrom": "Ang", "å": "Ang", "a": "Ang", "bohr": "Bohr",
    "a0": "Bohr", "au": "Bohr", "a.u.": "Bohr", "nm": "nm", "pm": "pm",
}


def normalize_energy_unit(unit):
    """Return the canonical name of an energy unit (e.g. ``'kcal/mol'``, ``'eV'``).

    Raises ValueError for an unknown unit, listing the known ones.
    """
    key = str(unit).strip().lower()
    if key not in _ENERGY_ALIASES:
        raise ValueError(
            f"Unknown energy unit {unit!r}; expected one of {sorted(ENERGY_UNITS)} "
            "(aliases such as 'Hartree' or 'kcal mol-1' are accepted)."
        )
    return _ENERGY_ALIASES[key]


def normalize_length_unit(unit):
    """Return the canonical name of a length unit (``'Ang'``, ``'Bohr'``, ``'nm'``, ``'pm'``)."""
    key = str(unit).strip().lower()
    if key not in _LENGTH_ALIASES:
        raise ValueError(
            f"Unknown length unit {unit!r}; expected one of {sorted(LENGTH_UNITS)} "
            "(aliases such as 'Angstrom' or 'a0' are accepted)."
        )
    return _LENGTH_ALIASES[key]


def energy_units_to_eV(unit):
    """Factor that converts an energy in `unit` to eV."""
    return ENERGY_UNITS[normalize_energy_unit(unit)]


def length_units_to_A(unit):
    """Factor that converts a length in `unit` to Å."""
    return LENGTH_UNITS[normalize_length_unit(unit)]


def energy_conversion(from_unit, to_unit):
    """Factor f such that ``E[to_unit] = f * E[from_unit]``."""
    return energy_units_to_eV(from_unit) / energy_units_to_eV(to_unit)


def length_conversion(from_unit, to_unit):
    """Factor f such that ``L[to_unit] = f * L[from_unit]``."""
    return length_units_to_A(from_unit) / length_units_to_A(to_unit)
