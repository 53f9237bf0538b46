"""ASE calculator for fitted gdmlkit models; ASE's units (eV, Å) at its boundary."""

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..model_format import load_model
from ..units import energy_units_to_eV, length_units_to_A, normalize_energy_unit, normalize_length_unit

__all__ = ["GDMLCalculator"]


class GDMLCalculator(Calculator):
    """Energy (eV) and forces (eV/Å) from a fitted model, whatever units it was trained in.

    Periodic (BIGDML) models need Atoms with the model's cell and pbc; stress is not
    implemented (asking for it raises ASE's PropertyNotImplementedError).

    Parameters
    ----------
    model : fitted estimator or str
        A fitted :class:`~gdmlkit.models.GDMLRegressor` or :class:`~gdmlkit.nn.NNRegressor`
        (or any estimator with the same ``predict``/``z_``/unit attributes), or a path to a
        saved model.
    energy_unit, length_unit : str, optional
        The model's units, needed only if the model does not record them
        (e.g. fitted on bare arrays); must agree with them otherwise.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, *, energy_unit=None, length_unit=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            model = load_model(model)
        self.model = model
        eu = self._resolve("energy", getattr(model, "energy_unit_", None), energy_unit, normalize_energy_unit)
        lu = self._resolve("length", getattr(model, "length_unit_", None), length_unit, normalize_length_unit)
        self.energy_unit, self.length_unit = eu, lu
        self._e_to_eV = energy_units_to_eV(eu)
        self._A_to_model = 1.0 / length_units_to_A(lu)
        self._f_to_eV_A = self._e_to_eV * self._A_to_model

    @staticmethod
    def _resolve(kind, recorded, given, normalize):
        if recorded is None and given is None:
            raise ValueError(
                f"The model does not record its {kind} unit (it was fitted on bare arrays); pass "
                f"{kind}_unit=... to GDMLCalculator, e.g. GDMLCalculator(model, energy_unit='kcal/mol', "
                "length_unit='Ang')."
            )
        if given is not None and recorded is not None and normalize(given) != recorded:
            raise ValueError(f"{kind}_unit={given!r} contradicts the model's recorded {kind} unit {recorded!r}.")
        return normalize(given if given is not None else recorded)

    def check_atoms(self, atoms):
        """Raise ValueError unless `atoms` has the model's atom count and species order, and, for a
        periodic (BIGDML) model, its cell (converted to the model's length unit) and pbc."""
        z_model = np.asarray(self.model.z_)
        z = atoms.get_atomic_numbers()
        if len(z) != len(z_model):
            raise ValueError(f"The Atoms object has {len(z)} atoms but the model was trained on {len(z_model)}.")
        if np.any(z != z_model):
            bad = int(np.nonzero(z != z_model)[0][0])
            raise ValueError(
                f"Atom {bad} is element Z={z[bad]} but the model expects Z={z_model[bad]}; the atoms must "
                f"be in the model's order {z_model.tolist()}."
            )
        if getattr(self.model, "cell_", None) is not None:
            if not atoms.pbc.any():
                raise ValueError("The model is periodic (BIGDML) but the Atoms object has no periodic cell; set "
                                 "atoms.cell and atoms.pbc to the model's supercell.")
            self.model.check_cell(atoms.cell.array * self._A_to_model, atoms.pbc)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Fill ``self.results`` with 'energy', 'free_energy' (eV) and 'forces' (eV/Å)."""
        super().calculate(atoms, properties, system_changes)
        self.check_atoms(self.atoms)
        R = self.atoms.get_positions()[None] * self._A_to_model
        # periodic models without a fixed cell (NNRegressor with is_periodic) also take the cell; a BIGDML
        # model's fixed cell_ was checked above and its predict takes positions only
        takes_cell = getattr(self.model, "is_periodic", False) and getattr(self.model, "cell_", None) is None
        extra = {"cell": self.atoms.cell.array[None] * self._A_to_model} if takes_cell else {}
        E, F = self.model.predict(R, **extra)
        energy = float(E[0]) * self._e_to_eV
        self.results = {"energy": energy, "free_energy": energy, "forces": F[0] * self._f_to_eV_A}
