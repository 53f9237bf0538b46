"""GDMLRegressor: (s)GDML force fields fitted in closed form, scikit-learn style."""

import warnings

import numpy as np
import torch

from ..descriptors import InverseDistanceDescriptor, descriptor_permutations
from ..kernels.radial import make_kernel
from ..preconditioners import PRECONDITIONERS
from ..symmetry import find_permutations, permutation_desc_index, validate_permutations
from ..units import normalize_energy_unit, normalize_length_unit
from ..utils.validation import check_atomic_numbers, check_energies, check_forces, check_positions, check_scalar
from ..base import BaseEstimator, check_is_fitted, check_query_dataset
from ..model_format import load_model, register_estimator
from .policy import FitPolicy
from .predictor import GDMLPredictor
from .solve import closed_form, pcg_fit

__all__ = ["GDMLRegressor"]

_SOLVERS = ("auto", "cholesky", "pcg")


@register_estimator
class GDMLRegressor(BaseEstimator):
    """Symmetrised gradient-domain machine learning (sGDML) force field.

    Learns a conservative force field F = -dE/dR (and the energy, up to the fitted
    integration constant) from forces, optionally also energies, with the Hessian of
    a Matérn-5/2 kernel on inverse pairwise distances, symmetrised over the
    molecule's atom permutations.

    Parameters
    ----------
    sigma : float, default=10.0
        Kernel length scale, in descriptor units (1/length unit of the data). > 0.
    lam : float, default=1e-10
        Ridge regularisation added to the kernel diagonal. > 0.
    perms : {'auto', 'none'} or int array (n_perms, n_atoms), default='auto'
        Atom permutations to symmetrise over: discovered from the training
        geometries ('auto', sGDML), none (plain GDML), or given explicitly.
    max_perms : int, default=512
        Cap on the size of a discovered permutation group (a warning when hit).
    use_E : bool, default=True
        Use energy labels, if given, to fix the energy integration constant.
    use_E_cstr : bool or 'auto', default=False
        Also include the energy labels as rows of the kernel system (closed form only).
        'auto': where energies are given and the closed form solves, else the integration
        constant (PCG); ``solve_info_['use_E_cstr']`` says which.
    solver : {'auto', 'cholesky', 'pcg'}, default='auto'
        'cholesky': closed form, factorised in place (one kernel copy, O(n^2) memory).
        'pcg': preconditioned conjugate gradients on the lazy kernel operator
        (O(n) memory). 'auto' takes the closed form while the kernel fits in
        half the available memory, PCG beyond.
    preconditioner : {'random', 'cholesky', 'leverage', 'svd', 'none'}, default='random'
        Nyström preconditioner for PCG (see :mod:`gdmlkit.preconditioners`); 'random'
        (the fastest on ethanol, docs/theory/tuning.md), 'leverage' and 'cholesky'
        choose whole geometries (``by_geometry=True``, their ``estimator_options``), whose
        kernel columns cost one block evaluation for all 3N components. The sizing rules
        are :class:`~gdmlkit.models.policy.FitPolicy`'s.
    preconditioner_options : dict, optional
        Extra keyword arguments of the preconditioner (e.g. ``{"pivoting": "random"}``).
    n_inducing : int or 'auto', default='auto'
        Preconditioner rank k; 'auto' uses k = (c n^2 / 2)^(1/3) (n unknowns,
        c = ``rank_constant``), capped so the n x k factor takes at most 1.5 GB.
        Where that cap binds, the factor is stored in float32 (leading eigenvectors
        float64; ``factor_dtype`` of :class:`~gdmlkit.preconditioners.NystromPreconditioner`),
        which doubles the rank in the same memory; so is a given k whose float64 factor
        would exceed that budget. ``preconditioner_options`` can set it. 'cholesky'
        keeps float64 and half the rank: its pivoting holds an n x k float64 factor.
    rank_constant : float, default=36.0
        The constant c of the automatic rank rule (chosen by measurement,
        docs/theory/tuning.md).
    tol : float, default=1e-6
        PCG relative residual tolerance.
    max_iter : int, optional
        PCG iteration cap. Default: 10 * sqrt(n) + 1000, and not converging by then raises
        :class:`~gdmlkit.exceptions.ConvergenceError` (no model); a given cap keeps the iterate
        reached there, with a ConvergenceWarning.
    backend : {'auto', 'torch', 'keops'}, default='auto'
        Kernel operator backend for PCG.
    cache_coefficients : {'auto', True, False}, default='auto'
        PCG, torch backend: keep the pairwise kernel coefficients in memory
        (about 8 n_train^2 n_perms bytes) so each CG product skips distances and
        exponentials. 'auto' caches on the CPU when they take at most a quarter
        of the available memory.
    max_memory : float, optional
        Memory budget of the fit in GB (default: the memory available when fitting).
        solver='auto' takes the closed form while its kernel needs at most half of
        it; cache_coefficients='auto' caches when that takes at most a quarter; the
        automatic preconditioner rank keeps the n x k factor and its build's k x k work within 0.65 of it, less
        the cache (without a budget: within 1.5 GB). In a distributed fit it is each
        process's budget (by default the available memory shared by the processes of a node).
    checkpoint : str, optional
        PCG checkpoint file: an interrupted fit resumes from it. It records a fingerprint of the
        system (data, descriptors, permutations, sigma, lam, preconditioner and seed); a
        checkpoint of another system is an error. A distributed fit writes one file per process
        beside it (``name.rank0-of-2.npz``, ...).
    random_state : int, optional
        Seed of the preconditioner's random choices.
    device : str, default='cpu'
        Torch device for PCG and prediction ('cpu', 'cuda', 'cuda:1', ...).
    progress : bool, default=False
        Show progress bars on long steps.
    descriptor : AutodiffDescriptor, optional
        Descriptor of the geometries, e.g. :class:`~gdmlkit.descriptors.MorseDescriptor` (Jacobians by
        automatic differentiation; see the guide on AD kernels). Default: the hand-derived inverse distances.
    kernel : RadialKernel or {'matern52', 'gaussian'}, optional
        Base kernel ``k(x, x') = kappa(|x - x'|)`` whose Hessian coefficients come from automatic
        differentiation (:mod:`gdmlkit.kernels.radial`). Default: the hand-derived Matérn-5/2.

    Attributes
    ----------
    alphas_ : ndarray (n_train, n_atoms, 3)
        Force coefficients of the linear system (K + lam I) alpha = F.
    alphas_E_ : ndarray (n_train,) or None
        Energy coefficients (only with ``use_E_cstr``).
    R_desc_ : ndarray (n_train, D)
        Training descriptors.
    R_d_desc_alpha_ : ndarray (n_train, D)
        Descriptor-space coefficients J_j alpha_j.
    perms_ : ndarray (n_perms, n_atoms)
        Permutations used (row 0 the identity).
    c_ : float
        Energy integration constant (energy unit).
    z_ : ndarray (n_atoms,)
        Atomic numbers.
    R_train_ : ndarray (n_train, n_atoms, 3) or None
        Training positions (None for models imported from sGDML files).
    energy_unit_, length_unit_ : str or None
        Units of the training data (None when fitted on bare arrays without units).
    solve_info_ : dict
        What the solver did (solver, jitter added, sizes, timings; for PCG the rank, factor_dtype,
        iterations and residuals).

    Examples
    --------
    >>> from gdmlkit import GDMLRegressor, load_example
    >>> train = load_example("ethanol_train")[:50]
    >>> model = GDMLRegressor(sigma=10.0).fit(train)
    >>> E, F = model.predict(train.R[:2])
    >>> F.shape
    (2, 9, 3)
    """

    _PERMS = ("auto", "none")
    is_periodic = False  #: whether the estimator models periodic cells (BIGDMLRegressor)

    def __init__(self, sigma=10.0, *, lam=1e-10, perms="auto", max_perms=512, use_E=True,
                 use_E_cstr=False, solver="auto", preconditioner="random", preconditioner_options=None,
                 n_inducing="auto", rank_constant=36.0, tol=1e-6, max_iter=None, backend="auto",
                 cache_coefficients="auto", max_memory=None, checkpoint=None, random_state=None, device="cpu",
                 progress=False, descriptor=None, kernel=None):
        self.sigma = sigma
        self.lam = lam
        self.perms = perms
        self.max_perms = max_perms
        self.use_E = use_E
        self.use_E_cstr = use_E_cstr
        self.solver = solver
        self.preconditioner = preconditioner
        self.preconditioner_options = preconditioner_options
        self.n_inducing = n_inducing
        self.rank_constant = rank_constant
        self.tol = tol
        self.max_iter = max_iter
        self.backend = backend
        self.cache_coefficients = cache_coefficients
        self.max_memory = max_memory
        self.checkpoint = checkpoint
        self.random_state = random_state
        self.device = device
        self.progress = progress
        self.descriptor = descriptor
        self.kernel = kernel

    # ------------------------------------------------------------------ inputs
    def _check_params(self):
        check_scalar(self.sigma, "sigma", min_val=0, include_min=False)
        check_scalar(self.lam, "lam", min_val=0, include_min=False)
        if self.max_perms is not None or not self.is_periodic:  # BIGDMLRegressor: None, no limit
            check_scalar(self.max_perms, "max_perms", min_val=1, integer=True)
        if self.solver not in _SOLVERS:
            raise ValueError(f"Unknown solver {self.solver!r}; expected one of {list(_SOLVERS)}.")
        if self.preconditioner not in list(PRECONDITIONERS) + ["none"]:
            raise ValueError(f"Unknown preconditioner {self.preconditioner!r}; expected one of "
                             f"{sorted(PRECONDITIONERS) + ['none']}.")
        if self.n_inducing != "auto":
            check_scalar(self.n_inducing, "n_inducing", min_val=1, integer=True)
        check_scalar(self.tol, "tol", min_val=0, include_min=False)
        check_scalar(self.rank_constant, "rank_constant", min_val=0, include_min=False)
        if self.use_E_cstr not in ("auto", True, False):
            raise ValueError(f"use_E_cstr={self.use_E_cstr!r}; expected 'auto', True or False.")
        if self.cache_coefficients not in ("auto", True, False):
            raise ValueError(f"cache_coefficients={self.cache_coefficients!r}; expected 'auto', True or False.")
        if self.max_memory is not None:
            check_scalar(self.max_memory, "max_memory", min_val=0, include_min=False)
        if isinstance(self.perms, str) and self.perms not in self._PERMS:
            raise ValueError(f"perms={self.perms!r}; expected one of {list(self._PERMS)} or an array "
                             "(n_perms, n_atoms).")
        if self.checkpoint is not None and self.solver == "cholesky":
            raise ValueError("checkpoint is a PCG checkpoint; the closed form (solver='cholesky') has no "
                             "iterations to resume. Use solver='pcg' (or 'auto') or drop checkpoint.")
        if self.kernel is not None:
            make_kernel(self.kernel)
        if self.descriptor is not None and self.is_periodic:
            raise ValueError(f"{type(self).__name__} builds its minimum-image descriptor from the cell; for another "
                             "periodic descriptor use GDMLRegressor(descriptor=MinimumImageDescriptor(...)).")

    @staticmethod
    def _unpack(X, y, E, z, energy_unit, length_unit):
        """Accept a Dataset or arrays; return validated (R, F, E, z, energy_unit, length_unit)."""
        if hasattr(X, "R") and hasattr(X, "z") and hasattr(X, "energy_unit"):
            if y is not None or E is not None or z is not None:
                raise ValueError("Pass either a Dataset or arrays (R, F, E=..., z=...), not both.")
            R, F, E, z = X.R, X.F, X.E, X.z
            energy_unit, length_unit = X.energy_unit, X.length_unit
        else:
            R, F = X, y
            if F is None:
                raise ValueError("Forces are required: call fit(R, F, E=..., z=...) or fit(dataset).")
            if z is None:
                raise ValueError("z (atomic numbers, shape (n_atoms,)) is required when fitting on arrays: fit(R, F, z=z).")
        R = check_positions(R)
        if F is None:
            raise ValueError("The dataset has no forces; gradient-domain models are trained on forces.")
        F = check_forces(F, R.shape)
        z = check_atomic_numbers(z, n_atoms=R.shape[1])
        E = None if E is None else check_energies(E, R.shape[0])
        energy_unit = None if energy_unit is None else normalize_energy_unit(energy_unit)
        length_unit = None if length_unit is None else normalize_length_unit(length_unit)
        return R, F, E, z, energy_unit, length_unit

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, E=None, *, z=None, energy_unit=None, length_unit=None):
        """Fit the force field.

        Parameters
        ----------
        X : Dataset or array (n_train, n_atoms, 3)
            Training data, or positions (length unit L).
        y : array (n_train, n_atoms, 3)
            Forces (energy unit / L) when X is an array.
        E : array (n_train,), optional
            Energies, to fix the integration constant (and with ``use_E_cstr`` as labels).
        z : array (n_atoms,)
            Atomic numbers, required when X is an array.
        energy_unit, length_unit : str, optional
            Units of bare arrays (taken from the Dataset otherwise).

        Returns
        -------
        self
        """
        self._check_params()
        periodic_descriptor = getattr(self.descriptor, "is_periodic", False)
        if getattr(X, "is_periodic", False) and not (self.is_periodic or periodic_descriptor):
            raise ValueError("The dataset is periodic (it has a cell with pbc); GDMLRegressor would ignore the "
                             "periodic images. Use BIGDMLRegressor, or drop the cell for a molecule or cluster.")
        R, F, E, z, energy_unit, length_unit = self._unpack(X, y, E, z, energy_unit, length_unit)
        n_train, n_atoms = R.shape[:2]
        if n_train < 2:
            raise ValueError(f"Too few training geometries: got {n_train}, need at least 2.")
        if self.use_E_cstr is True and E is None:
            raise ValueError("use_E_cstr=True needs energy labels; pass E or set use_E_cstr=False.")

        perms = self._resolve_perms(R, z)
        desc = self._make_descriptor(n_atoms)
        x, g = desc.transform(torch.from_numpy(R))  # once per fit: solver, coefficients and constant use it
        dp = torch.from_numpy(self._desc_perms(perms))
        policy = self.fit_policy()
        with_E = E is not None and self.use_E and self.use_E_cstr is not False
        solver = policy.solver(self.solver, F.size + (n_train if with_E else 0))
        use_E_cstr = self.use_E_cstr is True or (with_E and solver == "cholesky")
        y_vec = F.reshape(-1)
        E_mean = float(np.mean(E)) if E is not None else 0.0
        if use_E_cstr:
            y_vec = np.concatenate([y_vec, E - E_mean])
        if solver == "pcg":
            if use_E_cstr:
                raise ValueError("use_E_cstr=True is only supported by solver='cholesky'; use 'auto' (energy "
                                 "constraints where the closed form solves) or False with PCG.")
            alphas, info = pcg_fit(self, R, desc, x, g, dp, F, policy)
        else:
            alphas, info = closed_form(self, R, desc, x, g, dp, F, y_vec, use_E_cstr, policy)
        info["use_E_cstr"] = use_E_cstr

        nF = n_train * n_atoms * 3
        self.alphas_ = alphas[:nF].reshape(n_train, n_atoms, 3)
        self.alphas_E_ = alphas[nF:].copy() if use_E_cstr else None
        self.R_desc_ = x.numpy()
        self.R_d_desc_alpha_ = desc.jvp(g, torch.from_numpy(self.alphas_)).numpy()
        self.perms_ = perms
        self.z_ = z
        self.R_train_ = R
        self.energy_unit_ = energy_unit
        self.length_unit_ = length_unit
        self.n_atoms_ = n_atoms
        self.solve_info_ = info
        self._predictor = None
        self.c_ = 0.0
        if use_E_cstr:
            self.c_ = E_mean
        elif E is not None and self.use_E:
            self.c_ = self._integration_constant(x, E)
        else:
            warnings.warn("No energy labels were used: energies are predicted up to an additive constant "
                          "(c_ = 0). Pass E to fit to fix it.", UserWarning, stacklevel=2)
        return self

    def _make_descriptor(self, n_atoms):
        """The descriptor of this estimator's geometries (subclasses: periodic ones)."""
        if self.descriptor is None:
            return InverseDistanceDescriptor(n_atoms)
        if self.descriptor.n_atoms != n_atoms:
            raise ValueError(f"descriptor is for {self.descriptor.n_atoms} atoms but the geometries have {n_atoms}.")
        return self.descriptor

    def _desc_perms(self, perms):
        """Descriptor index permutations (n_perms, D) of atom permutations `perms` (subclasses: other descriptors)."""
        if self.descriptor is not None:
            return descriptor_permutations(self.descriptor, perms)
        return permutation_desc_index(perms)

    def base_kernel(self):
        """The base kernel object of the AD path, or None for the hand-derived Matérn-5/2."""
        return None if self.kernel is None else make_kernel(self.kernel)

    def _resolve_perms(self, R, z):
        if isinstance(self.perms, str):
            if self.perms == "none":
                return np.arange(R.shape[1], dtype=np.int64)[None]
            return find_permutations(R, z, max_perms=self.max_perms, progress=self.progress)
        return validate_permutations(self.perms, z)

    def fit_policy(self):
        """The :class:`~gdmlkit.models.policy.FitPolicy` of this estimator's memory parameters."""
        return FitPolicy(self.max_memory, self.rank_constant)

    def _integration_constant(self, x, E):
        """Least-squares offset between reference and integrated energies of the training descriptors x."""
        self.c_ = 0.0
        self._predictor = None
        E_pred = self._get_predictor().energies(x)
        corr = np.corrcoef(E, E_pred)[0, 1] if len(E) > 2 and np.std(E) > 0 else 1.0
        if corr < 0:
            warnings.warn(f"Predicted training energies are anti-correlated with the labels (r = {corr:.2f}); "
                          "the force labels may be gradients (flipped sign).", UserWarning, stacklevel=3)
        elif corr < 0.95:
            warnings.warn(f"Predicted training energies correlate only weakly with the labels (r = {corr:.2f}); "
                          "check that energies and forces match and share units.", UserWarning, stacklevel=3)
        self._predictor = None
        return float(np.mean(E - E_pred))

    # ----------------------------------------------------------------- predict
    def _get_predictor(self):
        check_is_fitted(self, "R_d_desc_alpha_")
        if getattr(self, "_predictor", None) is None:
            self._predictor = GDMLPredictor(
                self.R_desc_, self.R_d_desc_alpha_, self._desc_perms(self.perms_), self.sigma,
                self.c_, self.n_atoms_, alphas_E=self.alphas_E_, device=self.device,
                descriptor=self._make_descriptor(self.n_atoms_), kernel=self.base_kernel(),
            )
        return self._predictor

    def predict(self, X, batch_size=None):
        """Predict energies and forces.

        Parameters
        ----------
        X : Dataset or array (n, n_atoms, 3)
            Positions in the training length unit.
        batch_size : int, optional
            Geometries per batch.

        Returns
        -------
        E : ndarray (n,)
            Energies (training energy unit).
        F : ndarray (n, n_atoms, 3)
            Forces (energy unit / length unit).
        """
        check_is_fitted(self, "R_d_desc_alpha_")
        if hasattr(X, "R") and hasattr(X, "z"):
            check_query_dataset(self, X)
            X = X.R
        R = check_positions(X, n_atoms=self.n_atoms_)
        return self._get_predictor().predict(R, batch_size=batch_size)

    def predict_hessian(self, X, batch_size=None):
        """Hessians d^2 E / dR dR^T (n, 3 n_atoms, 3 n_atoms) of the predicted energy, in energy unit / length
        unit^2, for any descriptor and kernel (:func:`gdmlkit.models.hessian.predict_hessian`)."""
        from .hessian import predict_hessian

        return predict_hessian(self, X, batch_size=batch_size)

    def score(self, X, y=None, E=None):
        """Coefficient of determination R^2 of the predicted forces (higher is better)."""
        F = X.F if y is None and hasattr(X, "F") else y
        _, F_pred = self.predict(X)
        F = np.asarray(F, dtype=float).reshape(F_pred.shape)
        return 1.0 - np.sum((F - F_pred) ** 2) / np.sum((F - F.mean()) ** 2)

    def describe(self):
        """A few lines on the fitted model: atoms, training set, units, solver (``gdmlkit info`` prints them)."""
        check_is_fitted(self, "alphas_")
        info = {k: v for k, v in self.solve_info_.items() if k != "residuals"}
        return "\n".join([repr(self), f"  atoms: {self.z_.tolist()}",
                          f"  training geometries: {len(self.R_desc_)}, permutations: {len(self.perms_)}",
                          f"  units: energy {self.energy_unit_}, length {self.length_unit_}; c = {self.c_:.6f}",
                          f"  solver: {info}"])

    # --------------------------------------------------------------- pickling
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_predictor"] = None
        return state

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted model to `path` (.npz, no pickle, atomic). See :func:`gdmlkit.models.save_model`."""
        from .io import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a gdmlkit or sGDML model file. See :func:`gdmlkit.models.load_model`."""
        return load_model(path, device=device)

    @classmethod
    def _from_saved(cls, data, meta, device):
        from .io import restore_model

        return restore_model(cls, data, meta, device)
