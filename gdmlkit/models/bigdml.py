"""BIGDMLRegressor: GDML force fields of periodic materials, symmetrised over the space group.

BIGDML (Sauceda et al., Nat. Commun. 13, 3733 (2022)) is the sGDML kernel with two
changes: pairwise distances are taken under the minimum-image convention of the fixed
supercell (:class:`~gdmlkit.descriptors.PeriodicInverseDistanceDescriptor`), and the
kernel is symmetrised over the supercell's space group -- point operations times the
lattice translations that map it onto itself -- found by spglib from an ideal reference
structure (:func:`~gdmlkit.symmetry.find_spacegroup_symmetry`). Both enter the same
kernel, solver and predictor as molecules.
"""

import warnings

import numpy as np

from ..descriptors import PeriodicInverseDistanceDescriptor, check_cell
from ..exceptions import PerformanceWarning
from ..symmetry import (SUBGROUPS, NoLatticeSymmetryError, find_reference, find_spacegroup_symmetry,
                        validate_permutations)
from ..utils.validation import check_positions, check_scalar
from ..base import check_is_fitted, extends_params
from ..model_format import register_estimator
from .gdml import GDMLRegressor

__all__ = ["BIGDMLRegressor", "LARGE_GROUP"]

#: Group size above which a fit warns of its cost (PerformanceWarning).
LARGE_GROUP = 256


@register_estimator
class BIGDMLRegressor(GDMLRegressor):
    """Gradient-domain force field of a periodic supercell with a fixed cell (BIGDML).

    Parameters
    ----------
    sigma : float, default=10.0
        Kernel length scale, in descriptor units (1/length unit). > 0.
    lam : float, default=1e-10
        Ridge regularisation. > 0.
    perms : {'auto', 'full', 'translations', 'site', 'none'} or int array (n_perms, n_atoms)
        Symmetry group of the kernel. 'full': the whole space group of the reference
        supercell; 'translations': its pure lattice translations; 'site': the
        operations that keep atom 0 on its site; 'none': minimum image only
        (periodic GDML, what sgdml 1.0.3 does with a lattice); 'auto': 'full' where a
        lattice symmetry is found, else 'none' with a warning that says why (e.g. a
        liquid: no two training frames share atom sites); the explicit groups raise
        that error instead. An array gives the group explicitly.
    reference : array (n_atoms, 3), optional
        Ideal structure in the atom order of the data (length unit of the data), from
        which spglib finds the space group. Default: found from the training frames
        (:func:`~gdmlkit.symmetry.find_reference`: the mean of the frames that share
        atom sites, mapped to the sites of its space group and validated).
    symprec : float or 'auto', default='auto'
        Tolerance (length unit): spglib's on a given reference ('auto': 1e-3), or the
        tolerance of matching atoms to sites on the mean of the training frames ('auto':
        0.25 of the nearest-neighbour distance).
    max_perms : int, optional
        Largest group accepted (default: no limit). A larger group is an error that gives
        its size and names the subgroups; it is never dropped silently. The fit's kernel
        and the prediction cost grow linearly with the group (a 64-atom diamond cell has
        1536 operations: benchmarks/results/bigdml_mlearn_cpu.md); a PerformanceWarning
        gives the figures above ``LARGE_GROUP`` operations.
    use_E : bool, default=True
        As in :class:`~gdmlkit.models.GDMLRegressor`.
    use_E_cstr : bool or 'auto', default='auto'
        Energy labels as rows of the kernel system. 'auto': where energies are given and
        the closed form solves (on the mlearn blocks they cut the energy error several
        times against the integration constant alone); with PCG the integration constant.
    solver : {'auto', 'cholesky', 'pcg'}, default='auto'
        Closed form, or PCG on the lazy kernel operator with the periodic descriptor.
        PCG's options (preconditioner, preconditioner_options, n_inducing,
        rank_constant, tol, max_iter, backend, cache_coefficients, max_memory,
        checkpoint, random_state) are those of :class:`~gdmlkit.models.GDMLRegressor`.
    device : str, default='cpu'
        Torch device for PCG and prediction.
    progress : bool, default=False
        Progress bars on long steps.

    Attributes
    ----------
    cell_ : ndarray (3, 3)
        Lattice vectors (rows) of the training supercell (length unit).
    pbc_ : ndarray (3,) of bool
    symmetry_ : dict
        Space group ('international', 'number'), the full group's size and number of
        lattice translations and point operations, and the subgroup used ('used',
        'n_perms'); for a reference found from the data its figures ('reference',
        'reference_frames', 'symprec', 'nn_distance', 'max_site_deviation',
        'rms_displacement'); where none was found, 'used' is 'none' and 'reason' says why.
    Other fitted attributes as in :class:`~gdmlkit.models.GDMLRegressor`.

    Examples
    --------
    >>> import numpy as np
    >>> from gdmlkit import BIGDMLRegressor, load_example
    >>> data = load_example("pdh_emt")                       # H in a Pd32 supercell, eV and Å
    >>> from gdmlkit.data import example_path
    >>> ideal = np.load(example_path("pdh_emt"))["R_ideal"]  # the 0 K structure, same atom order
    >>> model = BIGDMLRegressor(sigma=3.2, reference=ideal).fit(data[:50])
    >>> model.symmetry_["international"], model.symmetry_["n_perms"]
    ('Pm-3m', 48)
    """

    _PERMS = ("auto",) + SUBGROUPS + ("none",)
    is_periodic = True

    @extends_params(GDMLRegressor.__init__, max_perms=None, use_E_cstr="auto")
    def __init__(self, sigma=10.0, *, reference=None, symprec="auto", **params):
        super().__init__(sigma, **params)
        self.reference = reference
        self.symprec = symprec

    def _check_params(self):
        super()._check_params()
        if self.symprec != "auto":
            check_scalar(self.symprec, "symprec", min_val=0, include_min=False)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, E=None, *, z=None, cell=None, pbc=None, energy_unit=None, length_unit=None):
        """Fit the force field of a periodic supercell.

        Parameters
        ----------
        X : Dataset or array (n_train, n_atoms, 3)
            Training data with one fixed cell, or positions (length unit L).
        y, E, z, energy_unit, length_unit
            As in :meth:`GDMLRegressor.fit <gdmlkit.models.GDMLRegressor.fit>`.
        cell : array (3, 3), optional
            Lattice vectors as rows (L); required when X is an array.
        pbc : bool or 3 bools, optional
            Periodic directions (default all, with `cell`).

        Returns
        -------
        self
        """
        self.set_cell(X, cell, pbc)
        return super().fit(X, y, E, z=z, energy_unit=energy_unit, length_unit=length_unit)

    def set_cell(self, X, cell=None, pbc=None):
        """Set ``cell_`` and ``pbc_`` from a Dataset X with one fixed cell, or from `cell` and `pbc`
        (arrays X); ValueError where the data have no cell or several."""
        if hasattr(X, "R") and hasattr(X, "cell"):
            if cell is not None or pbc is not None:
                raise ValueError("Pass either a Dataset (which carries its cell) or arrays with cell=, not both.")
            if X.cell is None:
                raise ValueError("The dataset has no cell; BIGDMLRegressor needs periodic data (a Dataset with "
                                 "cell= and pbc=). Use GDMLRegressor for molecules.")
            if not np.allclose(X.cell, X.cell[0], rtol=0, atol=1e-8 * np.abs(X.cell[0]).max()):
                raise ValueError("The dataset's cell changes between geometries; BIGDMLRegressor is fitted to one "
                                 "fixed supercell (e.g. NVT data). Select geometries that share a cell.")
            cell, pbc = X.cell[0], X.pbc
        elif cell is None:
            raise ValueError("cell (3, 3) is required when fitting on arrays: fit(R, F, z=z, cell=cell).")
        self.cell_, self.pbc_ = check_cell(cell, True if pbc is None else pbc)
        return self

    def _make_descriptor(self, n_atoms):
        return PeriodicInverseDistanceDescriptor(n_atoms, self.cell_, self.pbc_)

    def _resolve_perms(self, R, z):
        n_atoms = R.shape[1]
        if not isinstance(self.perms, str):
            perms = validate_permutations(self.perms, z)
            self.symmetry_ = {"used": "given", "n_perms": len(perms)}
            return perms
        if self.perms == "none":
            self.symmetry_ = {"used": "none", "n_perms": 1}
            return np.arange(n_atoms, dtype=np.int64)[None]
        tol = None if self.symprec == "auto" else self.symprec
        found = {}
        if self.reference is None:
            try:
                crystal = find_reference(R, z, self.cell_, self.pbc_, symprec=tol)
            except NoLatticeSymmetryError as exc:
                if self.perms != "auto":
                    raise ValueError(f"perms={self.perms!r} needs a lattice symmetry, but there is {exc} Pass "
                                     "reference= an ideal structure in the data's atom order, or perms='none' "
                                     "(minimum image only).") from None
                warnings.warn(f"No lattice symmetry: {exc} Fitting with the minimum image only (perms='none'); "
                              "pass reference= an ideal structure to symmetrise.", UserWarning, stacklevel=4)
                self.symmetry_ = {"used": "none", "n_perms": 1, "reference": "none found", "reason": str(exc)}
                return np.arange(n_atoms, dtype=np.int64)[None]
            group, found = crystal.group, crystal.summary()
        else:
            ref = check_positions(self.reference, "reference", n_atoms=n_atoms)[0]
            group = find_spacegroup_symmetry(ref, z, self.cell_, self.pbc_, symprec=1e-3 if tol is None else tol)
            if group.size == 1:
                warnings.warn("spglib found only the identity (space group P1) in the given reference; check that "
                              "it is an ideal structure (or loosen symprec).", UserWarning, stacklevel=4)
        used = "full" if self.perms == "auto" else self.perms
        sub = group.subgroup(used)
        if self.max_perms is not None and sub.size > self.max_perms:
            sizes = ", ".join(f"'{k}' {group.subgroup(k).size}" for k in SUBGROUPS)
            raise ValueError(
                f"The symmetry group ({group.international}, perms={self.perms!r}) has {sub.size} operations, more "
                f"than max_perms={self.max_perms}. The kernel's cost grows linearly with it; subgroups: {sizes}. "
                "Choose perms='translations' or 'site', or raise max_perms.")
        if sub.size > LARGE_GROUP:
            warnings.warn(
                f"Symmetrising over {sub.size} operations ({group.international}): fitting and predicting cost "
                f"{sub.size} times the minimum-image model's kernel work (and the predictor holds {sub.size} "
                "permuted copies of each training descriptor). perms='translations' "
                f"({group.subgroup('translations').size}) or 'site' ({group.subgroup('site').size}) are cheaper.",
                PerformanceWarning, stacklevel=4)
        self.symmetry_ = {"international": group.international, "number": group.number, "group_size": group.size,
                          "n_translations": group.n_translations, "n_point_operations": group.n_point_operations,
                          "used": used, "n_perms": sub.size, **found}
        return sub.perms

    # ----------------------------------------------------------------- predict
    def predict(self, X, batch_size=None):
        """Energies (n,) and forces (n, n_atoms, 3) of geometries in the training cell.

        X is a Dataset with the training cell, or positions (n, n_atoms, 3) taken to be
        in it (length unit of the training data).
        """
        check_is_fitted(self, "R_d_desc_alpha_")
        if hasattr(X, "R") and hasattr(X, "cell"):
            self.check_cell(X.cell, X.pbc)
        return super().predict(X, batch_size=batch_size)

    def check_cell(self, cell, pbc):
        """Raise ValueError unless `cell` (3, 3) or (n, 3, 3) and `pbc` are the model's."""
        check_is_fitted(self, "cell_")
        if cell is None:
            raise ValueError("The geometries have no cell, but this BIGDML model describes the periodic supercell "
                             f"{self.cell_.tolist()}; set the cell (and pbc) to the model's.")
        cell = np.asarray(cell, dtype=np.float64)
        if not np.allclose(cell, self.cell_, rtol=0, atol=1e-6 * np.abs(self.cell_).max()):
            raise ValueError(f"The cell {np.round(cell.reshape(-1, 3, 3)[0], 6).tolist()} differs from the model's "
                             f"{np.round(self.cell_, 6).tolist()}; a BIGDML model is fitted to one fixed supercell.")
        if not np.array_equal(np.broadcast_to(pbc, (3,)), self.pbc_):
            raise ValueError(f"pbc={np.asarray(pbc).tolist()} but the model was fitted with pbc={self.pbc_.tolist()}.")
