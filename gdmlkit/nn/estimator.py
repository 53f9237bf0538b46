"""NNRegressor: SchNet, SpookyNet and SO3krates trained on energies and forces, with the
estimator interface of the kernel models (fit/predict/save/load, ASE calculator)."""

import numpy as np
import torch

from ..base import BaseEstimator, check_is_fitted, check_query_dataset
from ..data.dataset import validate_cells
from ..model_format import load_model, register_estimator, write_model_file
from ..units import energy_units_to_eV, length_units_to_A, normalize_energy_unit, normalize_length_unit
from ..utils.validation import check_atomic_numbers, check_energies, check_forces, check_positions, check_scalar
from . import training
from .cgnet import CGNet
from .schnet import SchNet
from .so3krates import SO3krates
from .spookynet import BOHR_A, COULOMB_CONSTANT_EV_A, SpookyNet

__all__ = ["NNRegressor", "MODELS"]

#: architecture name -> torch module class
MODELS = {"schnet": SchNet, "spookynet": SpookyNet, "so3krates": SO3krates, "cgnet": CGNet}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# fitted scalars written to the meta of a model file
_SAVED = ("element_energies_", "energy_scale_", "energy_unit_", "length_unit_", "charge_", "spin_", "history_",
          "n_epochs_", "stopped_early_")


@register_estimator
class NNRegressor(BaseEstimator):
    """Neural-network force field: energy E(R) from a message-passing network, forces -dE/dR.

    Parameters
    ----------
    model : {'schnet', 'spookynet', 'so3krates', 'cgnet'}, default='schnet'
        Architecture (see :mod:`gdmlkit.nn`; 'cgnet' for coarse-grained bead chains).
    model_options : dict, optional
        Extra keyword arguments of the architecture (``n_features``, ``n_interactions``,
        ``n_rbf``; ``l_max``, ``n_heads`` for SO3krates ...).
    cutoff : float, default=5.0
        Neighbour cutoff, in the training length unit.
    energy_weight : float, default=0.01
        rho in the loss rho * MSE(E) + (1 - rho) * MSE(F), both standardised by the
        force scale. In [0, 1]. 0 trains on forces only, and the data may then lack energies
        (coarse-grained force matching): energies are then predicted up to a constant.
    learning_rate : float, default=5e-4
        Initial Adam learning rate.
    batch_size : int, default=16
        Geometries per optimisation step.
    max_epochs : int, default=1000
        Passes over the training set (may be raised when resuming from a checkpoint).
    patience : int, default=100
        Early stopping: epochs without a better validation loss before training stops.
    lr_factor, lr_patience, min_lr : float, int, float
        Learning-rate schedule: multiply by `lr_factor` after `lr_patience` epochs
        without improvement of the validation loss, down to `min_lr`.
    ema_decay : float or None, default=0.999
        Exponential moving average of the weights, updated after every optimisation step
        with decay ``min(ema_decay, (1 + n) / (10 + n))`` at step n (a warm-up, as in
        NequIP); validation, early stopping, the schedule and the fitted network use the
        averaged weights. None keeps the raw weights. In [0, 1).
    validation_fraction : float, default=0.1
        Share of the training geometries held out for early stopping (at least one),
        unless ``fit(..., valid=dataset)`` is given. 0 monitors the training loss.
    checkpoint : str, optional
        File written (atomically) after every epoch; a fit interrupted (Ctrl-C, crash)
        resumes from it when called again with the same parameters and data.
    random_state : int, default=0
        Seed of initialisation, validation split and batch order (same seed, same model).
    device : str, default='cpu'
        Torch device ('cpu', 'cuda', 'cuda:1').
    dtype : {'float32', 'float64'}, default='float32'
    progress : bool, default=False
        Show a progress bar over epochs with the training loss and the validation energy
        and force MAE (training units).

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (best validation epoch).
    z_ : ndarray (n_atoms,)
    element_energies_ : dict of int to float
        Energy of each element Z (energy unit), the least-squares fit of
        ``E = sum_Z n_Z e_Z`` on the training set (:func:`~gdmlkit.nn.training.element_energies`;
        all geometries have the same atoms, so only ``sum_i e_{z_i}``, their mean energy, is
        determined: the minimum-norm split is stored).
    energy_scale_ : float
        RMS training force component; ``E = sum_i e_{z_i} + energy_scale_ * network output``.
    energy_unit_, length_unit_ : str or None
    charge_, spin_ : float or None
        Total charge (e) and unpaired electrons used in training (SpookyNet), the
        defaults of ``predict``.
    pbc_ : ndarray (3,) of bool or None
    history_ : list of dict
        Per epoch: train/validation loss, validation energy and force MAE, learning rate.
    n_epochs_ : int
        Epochs run; ``stopped_early_`` tells whether early stopping ended training.

    Examples
    --------
    >>> from gdmlkit import NNRegressor, load_example
    >>> train = load_example("ethanol_train")[:20]
    >>> model = NNRegressor("schnet", model_options={"n_features": 16}, max_epochs=2).fit(train)
    >>> E, F = model.predict(train.R[:2])
    >>> F.shape
    (2, 9, 3)
    """

    def __init__(self, model="schnet", *, model_options=None, cutoff=5.0, energy_weight=0.01, learning_rate=5e-4,
                 batch_size=16, max_epochs=1000, patience=100, lr_factor=0.5, lr_patience=25, min_lr=1e-6,
                 ema_decay=0.999, validation_fraction=0.1, checkpoint=None, random_state=0, device="cpu",
                 dtype="float32", progress=False):
        self.model = model
        self.model_options = model_options
        self.cutoff = cutoff
        self.energy_weight = energy_weight
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr_factor = lr_factor
        self.lr_patience = lr_patience
        self.min_lr = min_lr
        self.ema_decay = ema_decay
        self.validation_fraction = validation_fraction
        self.checkpoint = checkpoint
        self.random_state = random_state
        self.device = device
        self.dtype = dtype
        self.progress = progress

    # ------------------------------------------------------------------ inputs
    def _check_params(self):
        if self.model not in MODELS:
            raise ValueError(f"Unknown model {self.model!r}; expected one of {sorted(MODELS)}.")
        if self.dtype not in _DTYPES:
            raise ValueError(f"Unknown dtype {self.dtype!r}; expected one of {sorted(_DTYPES)}.")
        if self.model_options is not None and not isinstance(self.model_options, dict):
            raise TypeError(f"model_options must be a dict of {self.model} arguments; got "
                            f"{type(self.model_options).__name__}.")
        check_scalar(self.cutoff, "cutoff", min_val=0, include_min=False)
        check_scalar(self.energy_weight, "energy_weight", min_val=0, max_val=1)
        check_scalar(self.learning_rate, "learning_rate", min_val=0, include_min=False)
        check_scalar(self.batch_size, "batch_size", min_val=1, integer=True)
        check_scalar(self.max_epochs, "max_epochs", min_val=0, integer=True)
        check_scalar(self.patience, "patience", min_val=1, integer=True)
        check_scalar(self.lr_factor, "lr_factor", min_val=0, max_val=1, include_min=False, include_max=False)
        check_scalar(self.lr_patience, "lr_patience", min_val=0, integer=True)
        check_scalar(self.min_lr, "min_lr", min_val=0)
        if self.ema_decay is not None:
            check_scalar(self.ema_decay, "ema_decay", min_val=0, max_val=1, include_max=False)
        check_scalar(self.validation_fraction, "validation_fraction", min_val=0, max_val=1, include_max=False)
        check_scalar(self.random_state, "random_state", min_val=0, integer=True)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device={self.device!r} but CUDA is not available here; use device='cpu'.")

    @staticmethod
    def _unpack(X, y, E, z, energy_unit, length_unit, cell, pbc, forces_only=False):
        """Accept a Dataset or arrays; return a dict of validated training arrays and units (with
        `forces_only`, missing energies are zeros)."""
        if hasattr(X, "R") and hasattr(X, "z") and hasattr(X, "energy_unit"):
            if any(a is not None for a in (y, E, z, cell)):
                raise ValueError("Pass either a Dataset or arrays (R, F, E=..., z=...), not both.")
            R, F, E, z, cell, pbc = X.R, X.F, X.E, X.z, X.cell, X.pbc
            energy_unit, length_unit = X.energy_unit, X.length_unit
        else:
            R, F = X, y
            if z is None:
                raise ValueError("z (atomic numbers, shape (n_atoms,)) is required when fitting on arrays: "
                                 "fit(R, F, E=E, z=z).")
        R = check_positions(R)
        if E is None and F is not None and forces_only:
            E = np.zeros(R.shape[0])
        if F is None or E is None:
            raise ValueError(f"The training data lacks {'forces' if F is None else 'energies'}; the networks are "
                             "trained on both energies and forces (on forces only with energy_weight=0).")
        out = {"R": R, "F": check_forces(F, R.shape), "E": check_energies(E, R.shape[0]),
               "z": check_atomic_numbers(z, n_atoms=R.shape[1]), "cell": None, "pbc": None,
               "energy_unit": None if energy_unit is None else normalize_energy_unit(energy_unit),
               "length_unit": None if length_unit is None else normalize_length_unit(length_unit)}
        if cell is not None:
            out["cell"], out["pbc"] = validate_cells(cell, pbc, R.shape[0])
        return out

    @staticmethod
    def _per_sample(name, value, n_samples):
        """A scalar or (n_samples,) total charge/spin as float64 (n_samples,)."""
        a = np.asarray(value, dtype=np.float64)
        if a.ndim == 0:
            a = np.full(n_samples, float(a))
        if a.shape != (n_samples,):
            raise ValueError(f"{name} must be a number or have shape (n_samples,) = ({n_samples},); got {a.shape}.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf.")
        return a

    def _electronic_state(self, charge, spin, n_samples):
        """Validated (charge, spin) arrays (SpookyNet) or (None, None)."""
        if self.model != "spookynet":
            if charge is not None or spin is not None:
                raise ValueError(f"charge/spin are only used by model='spookynet'; {self.model!r} cannot represent "
                                 "them. Drop the argument or use model='spookynet'.")
            return None, None
        if charge is None:
            raise ValueError("SpookyNet embeds the total charge of each geometry: pass charge= to fit (a number "
                             "or one per geometry, in e; charge=0 for neutral molecules).")
        spin = 0.0 if spin is None else spin
        charge, spin = self._per_sample("charge", charge, n_samples), self._per_sample("spin", spin, n_samples)
        if np.any(spin < 0):
            raise ValueError("spin is the number of unpaired electrons and must be >= 0.")
        return charge, spin

    # ------------------------------------------------------------------ module
    def _build_module(self, energy_unit, length_unit):
        options = dict(self.model_options or {})
        options.setdefault("cutoff", float(self.cutoff))
        if self.model == "spookynet":
            if energy_unit is None or length_unit is None:
                raise ValueError("SpookyNet's ZBL repulsion and electrostatics need units: fit on a Dataset or pass "
                                 "energy_unit= and length_unit= with the arrays.")
            e, L = energy_units_to_eV(energy_unit), length_units_to_A(length_unit)
            options.setdefault("coulomb_constant", COULOMB_CONSTANT_EV_A / (e * L))
            options.setdefault("bohr", BOHR_A / L)
        try:
            module = MODELS[self.model](**options)
        except TypeError as exc:
            raise TypeError(f"Invalid model_options for {self.model!r}: {exc}.") from exc
        return module.to(device=self.device, dtype=_DTYPES[self.dtype])

    def _energies_and_forces(self, R, cell, charge, spin, create_graph):
        """Standardised energies (n,) and forces (n, n_atoms, 3) of a batch (tensors on the device)."""
        n_samples, n_atoms = R.shape[:2]
        pos = R.reshape(-1, 3).requires_grad_(True)
        pairs = self.module_.pair_lists(pos.view(n_samples, n_atoms, 3), cell, self.pbc_)
        batch = torch.arange(n_samples, device=R.device).repeat_interleave(n_atoms)
        z = self._z_t.repeat(n_samples)
        energy = self.module_(z, pos, batch, n_samples, pairs, charge, spin)
        (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph)
        return energy, -grad.view(n_samples, n_atoms, 3)

    def _tensors(self, *arrays):
        return [None if a is None else torch.as_tensor(a, dtype=_DTYPES[self.dtype], device=self.device)
                for a in arrays]

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, E=None, *, z=None, energy_unit=None, length_unit=None, cell=None, pbc=None,
            charge=None, spin=None, valid=None):
        """Train the network on energies and forces.

        Parameters
        ----------
        X : Dataset or array (n_train, n_atoms, 3)
            Training data, or positions (length unit L).
        y : array (n_train, n_atoms, 3)
            Forces (energy unit / L) when X is an array.
        E : array (n_train,)
            Energies when X is an array.
        z : array (n_atoms,)
            Atomic numbers, required with arrays.
        energy_unit, length_unit : str, optional
            Units of bare arrays (taken from the Dataset otherwise).
        cell : array (3, 3) or (n_train, 3, 3), optional
            Lattice vectors as rows (L) for periodic data given as arrays.
        pbc : bool or 3 bools, optional
        charge, spin : float or array (n_train,), optional
            Total charge (e) and unpaired electrons; SpookyNet requires `charge`.
        valid : Dataset, optional
            Validation set for early stopping (same units and atoms; the first training
            charge/spin), instead of holding out `validation_fraction` of the training data.

        Returns
        -------
        self
        """
        self._check_params()
        data = self._unpack(X, y, E, z, energy_unit, length_unit, cell, pbc, forces_only=self.energy_weight == 0)
        n = data["R"].shape[0]
        charge, spin = self._electronic_state(charge, spin, n)
        train, val = training.split(self, data, charge, spin, valid)
        self.z_ = data["z"]
        self.n_atoms_ = len(self.z_)
        self.energy_unit_, self.length_unit_ = data["energy_unit"], data["length_unit"]
        self._is_periodic = data["cell"] is not None
        self.pbc_ = data["pbc"]
        const = charge is not None and np.all(charge == charge[0]) and np.all(spin == spin[0])
        self.charge_ = float(charge[0]) if const else None
        self.spin_ = float(spin[0]) if const else None
        # standardisation: per-element energies and the force RMS as the energy scale
        elements, counts = np.unique(self.z_, return_counts=True)
        e = training.element_energies(np.tile(counts, (len(train["E"]), 1)), train["E"])
        self.element_energies_ = {int(Z): float(v) for Z, v in zip(elements, e)}
        self.energy_scale_ = float(np.sqrt(np.mean(train["F"] ** 2))) or 1.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.module_ = self._build_module(self.energy_unit_, self.length_unit_)
        self.module_.energy_scale = self.energy_scale_
        self._z_t = torch.as_tensor(self.z_, device=self.device)
        state = training.train(self, train, val, training.fingerprint(self, data, charge, spin, valid))
        self.history_ = state["history"]
        self.n_epochs_ = state["epoch"]
        self.stopped_early_ = state["stopped_early"]
        return self

    @property
    def _offset(self):
        """sum_i e_{z_i}: the energy of a geometry whose network output is zero (energy unit)."""
        return float(sum(self.element_energies_[int(Z)] for Z in self.z_))

    def _write_checkpoint(self, fp, state, opt, sched, gen, ema):
        """Save the training state after an epoch (:func:`gdmlkit.nn.training.write_checkpoint`)."""
        training.write_checkpoint(self, fp, state, opt, sched, gen, ema)

    @property
    def is_periodic(self):
        """Whether the fitted network was trained on periodic cells (``predict`` then needs `cell`)."""
        check_is_fitted(self, "module_")
        return self._is_periodic

    # ----------------------------------------------------------------- predict
    def predict(self, X, batch_size=64, *, cell=None, charge=None, spin=None):
        """Predict energies and forces.

        Parameters
        ----------
        X : Dataset or array (n, n_atoms, 3)
            Positions in the training length unit.
        batch_size : int
            Geometries per batch.
        cell : array (3, 3) or (n, 3, 3), optional
            Lattice vectors (rows, L); required for models trained on periodic cells.
        charge, spin : float or array (n,), optional
            SpookyNet only; default: the values used in training.

        Returns
        -------
        E : ndarray (n,)
            Energies (training energy unit).
        F : ndarray (n, n_atoms, 3)
            Forces (energy unit / length unit).
        """
        check_is_fitted(self, "module_")
        if hasattr(X, "R") and hasattr(X, "z"):
            check_query_dataset(self, X)
            X, cell = X.R, X.cell if cell is None else cell
        R = check_positions(X, n_atoms=self.n_atoms_)
        n = R.shape[0]
        if self.is_periodic and cell is None:
            raise ValueError("This model was trained on periodic cells; pass cell= (lattice vectors as rows).")
        if not self.is_periodic and cell is not None:
            raise ValueError("This model was trained on molecules (no cell); drop cell= or train on periodic data.")
        if cell is not None:
            cell, _ = validate_cells(cell, self.pbc_, n)
        charge, spin = self._predict_state(charge, spin, n)
        E, F = np.empty(n), np.empty(R.shape)
        self.module_.eval()
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            Rb, cb, qb, sb = self._tensors(R[sl], None if cell is None else cell[sl],
                                           None if charge is None else charge[sl], None if spin is None else spin[sl])
            e, f = self._energies_and_forces(Rb, cb, qb, sb, create_graph=False)
            E[sl] = e.detach().cpu().double().numpy() * self.energy_scale_ + self._offset
            F[sl] = f.detach().cpu().double().numpy() * self.energy_scale_
        return E, F

    def _predict_state(self, charge, spin, n):
        if self.model != "spookynet":
            return self._electronic_state(charge, spin, n)
        if charge is None and self.charge_ is None:
            raise ValueError("The model was trained on several total charges/spins; pass charge= (and spin=).")
        charge = self.charge_ if charge is None else charge
        spin = self.spin_ if spin is None else spin
        return self._electronic_state(charge, spin, n)

    def describe(self):
        """A few lines on the fitted network: atoms, size, units, training (``gdmlkit info`` prints them)."""
        check_is_fitted(self, "module_")
        n_par = sum(p.numel() for p in self.module_.parameters())
        lines = [repr(self), f"  network: {self.model}, {n_par} parameters", f"  atoms: {self.z_.tolist()}",
                 f"  units: energy {self.energy_unit_}, length {self.length_unit_}",
                 f"  epochs: {self.n_epochs_}" + (" (stopped early)" if self.stopped_early_ else "")]
        valid = [h for h in self.history_ if "valid_force_mae" in h]
        if valid:
            best = min(valid, key=lambda h: h["valid_loss"])
            lines.append(f"  best validation (epoch {best['epoch']}): energy MAE {best['valid_energy_mae']:.4g}, "
                         f"force MAE {best['valid_force_mae']:.4g}")
        return "\n".join(lines)

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted network to `path` (.npz without pickle, atomic); load with :func:`gdmlkit.model_format.load_model`."""
        write_model_file(path, self, *self._model_state())

    def _model_state(self):
        """(meta, arrays) of the fitted network, as its model file holds them (:meth:`_from_saved` inverts it)."""
        check_is_fitted(self, "module_")
        meta = {"params": self.get_params(), **{k: getattr(self, k) for k in _SAVED}, "is_periodic": self.is_periodic,
                "pbc_": None if self.pbc_ is None else self.pbc_.tolist()}
        state = {f"state/{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        return meta, {"z_": self.z_, **state}

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a network saved with :meth:`save`. See :func:`gdmlkit.model_format.load_model`."""
        return load_model(path, device=device)

    @classmethod
    def _from_saved(cls, data, meta, device):
        """Rebuild from the arrays and metadata of a model file (called by :func:`~gdmlkit.model_format.load_model`)."""
        model = cls(**dict(meta["params"], device=device))
        if "element_energies_" not in meta:  # older files: the mean training energy, split as fit() would
            elements, counts = np.unique(np.asarray(data["z_"]), return_counts=True)
            e = training.element_energies(counts[None], [meta["energy_mean_"]])
            meta = dict(meta, element_energies_=dict(zip(elements.tolist(), e.tolist())))
        for key in _SAVED:
            setattr(model, key, meta[key])
        model._is_periodic = meta["is_periodic"] if "is_periodic" in meta else meta["periodic_"]  # older files
        model.pbc_ = None if meta["pbc_"] is None else np.asarray(meta["pbc_"], dtype=bool)
        model.z_ = np.asarray(data["z_"], dtype=np.int64)
        model.n_atoms_ = len(model.z_)
        model.element_energies_ = {int(Z): e for Z, e in model.element_energies_.items()}  # JSON keys are str
        model.module_ = model._build_module(model.energy_unit_, model.length_unit_)
        state = {k[len("state/"):]: torch.from_numpy(np.asarray(v)) for k, v in data.items() if k.startswith("state/")}
        model.module_.load_state_dict(state)
        model.module_.energy_scale = model.energy_scale_
        model.module_.eval()
        model._z_t = torch.as_tensor(model.z_, device=device)
        return model
