"""NNRegressor: SchNet, SpookyNet and SO3krates trained on energies and forces, with the
estimator interface of the kernel models (fit/predict/save/load, ASE calculator)."""

import copy
import json
import math
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.dataset import validate_cells
from ..models.base import BaseEstimator, check_is_fitted, check_query_dataset
from ..units import energy_units_to_eV, length_units_to_A, normalize_energy_unit, normalize_length_unit
from ..utils.validation import check_atomic_numbers, check_energies, check_forces, check_positions, check_scalar
from ..utils.atomic import atomic_open
from .schnet import SchNet
from .so3krates import SO3krates
from .spookynet import BOHR_A, COULOMB_CONSTANT_EV_A, SpookyNet

__all__ = ["NNRegressor", "MODELS"]

#: architecture name -> torch module class
MODELS = {"schnet": SchNet, "spookynet": SpookyNet, "so3krates": SO3krates}
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# parameters that may change between an interrupted fit and its resumption
_RESUMABLE = ("max_epochs", "checkpoint", "device", "progress")


class NNRegressor(BaseEstimator):
    """Neural-network force field: energy E(R) from a message-passing network, forces -dE/dR.

    Parameters
    ----------
    model : {'schnet', 'spookynet', 'so3krates'}, default='schnet'
        Architecture (see :mod:`gdmlkit.nn`).
    model_options : dict, optional
        Extra keyword arguments of the architecture (``n_features``, ``n_interactions``,
        ``n_rbf``; ``l_max``, ``n_heads`` for SO3krates ...).
    cutoff : float, default=5.0
        Neighbour cutoff, in the training length unit.
    energy_weight : float, default=0.01
        rho in the loss rho * MSE(E) + (1 - rho) * MSE(F), both standardised by the
        force scale. In [0, 1].
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
        Show a progress bar over epochs.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (best validation epoch).
    z_ : ndarray (n_atoms,)
    energy_mean_, energy_scale_ : float
        Standardisation: ``E = energy_mean_ + energy_scale_ * network output`` (energy unit).
    energy_unit_, length_unit_ : str or None
    charge_, spin_ : float or None
        Total charge (e) and unpaired electrons used in training (SpookyNet), the
        defaults of ``predict``.
    periodic_ : bool
        Trained on periodic cells (``predict`` then needs `cell`).
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
                 validation_fraction=0.1, checkpoint=None, random_state=0, device="cpu", dtype="float32",
                 progress=False):
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
        check_scalar(self.validation_fraction, "validation_fraction", min_val=0, max_val=1, include_max=False)
        check_scalar(self.random_state, "random_state", min_val=0, integer=True)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device={self.device!r} but CUDA is not available here; use device='cpu'.")

    @staticmethod
    def _unpack(X, y, E, z, energy_unit, length_unit, cell, pbc):
        """Accept a Dataset or arrays; return a dict of validated training arrays and units."""
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
        if F is None or E is None:
            raise ValueError(f"The training data lacks {'forces' if F is None else 'energies'}; the networks are "
                             "trained on both energies and forces.")
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
        data = self._unpack(X, y, E, z, energy_unit, length_unit, cell, pbc)
        n = data["R"].shape[0]
        charge, spin = self._electronic_state(charge, spin, n)
        train, val = self._split(data, charge, spin, valid)
        self.z_ = data["z"]
        self.n_atoms_ = len(self.z_)
        self.energy_unit_, self.length_unit_ = data["energy_unit"], data["length_unit"]
        self.periodic_ = data["cell"] is not None
        self.pbc_ = data["pbc"]
        const = charge is not None and np.all(charge == charge[0]) and np.all(spin == spin[0])
        self.charge_ = float(charge[0]) if const else None
        self.spin_ = float(spin[0]) if const else None
        # standardisation: mean energy and the force RMS as the energy scale
        self.energy_mean_ = float(np.mean(train["E"]))
        self.energy_scale_ = float(np.sqrt(np.mean(train["F"] ** 2))) or 1.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.module_ = self._build_module(self.energy_unit_, self.length_unit_)
        self.module_.energy_scale = self.energy_scale_
        self._z_t = torch.as_tensor(self.z_, device=self.device)
        self._train_loop(train, val, self._fingerprint(data, charge, spin, valid))
        return self

    def _split(self, data, charge, spin, valid):
        """Training and validation dicts of arrays (validation None when not monitored)."""
        n = data["R"].shape[0]
        keys = ("R", "F", "E", "cell")
        full = {k: data[k] for k in keys}
        full["charge"], full["spin"] = charge, spin
        if valid is not None:
            v = self._unpack(valid, None, None, None, None, None, None, None)
            if not np.array_equal(v["z"], data["z"]):
                raise ValueError("valid holds different atoms (or order) than the training data.")
            if (v["energy_unit"], v["length_unit"]) != (data["energy_unit"], data["length_unit"]):
                raise ValueError(f"valid is in {v['energy_unit']}/{v['length_unit']} but the training data in "
                                 f"{data['energy_unit']}/{data['length_unit']}; convert with valid.to_units(...).")
            vc, vs = (None, None) if charge is None else (np.full(len(v["E"]), charge[0]), np.full(len(v["E"]), spin[0]))
            return full, {**{k: v[k] for k in keys}, "charge": vc, "spin": vs}
        if self.validation_fraction == 0:
            return full, None
        n_val = max(1, int(round(self.validation_fraction * n)))
        if n - n_val < 1:
            raise ValueError(f"Too few training geometries: got {n}; with validation_fraction="
                             f"{self.validation_fraction} none is left for training. Pass more data, "
                             "valid=..., or validation_fraction=0.")
        perm = np.random.default_rng(self.random_state).permutation(n)
        pick = {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val])}

        def take(idx):
            return {k: None if a is None else a[idx] for k, a in full.items()}

        return take(pick["train"]), take(pick["val"])

    def _fingerprint(self, data, charge, spin, valid):
        """JSON string identifying parameters and data, so a checkpoint resumes only the same fit."""
        import hashlib

        params = {k: v for k, v in self.get_params().items() if k not in _RESUMABLE}
        h = hashlib.md5()
        for a in (data["R"], data["F"], data["E"], data["z"], data["cell"], charge, spin,
                  None if valid is None else valid.R):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        return json.dumps({"params": params, "data": h.hexdigest()}, sort_keys=True, default=str)

    def _loss(self, batch, create_graph):
        """(loss, sum |dE|, sum |dF|) of a batch dict of tensors; errors in physical units."""
        e, f = self._energies_and_forces(batch["R"], batch["cell"], batch["charge"], batch["spin"], create_graph)
        s = self.energy_scale_
        dE = e - (batch["E"] - self.energy_mean_) / s
        dF = f - batch["F"] / s
        loss = self.energy_weight * (dE**2).mean() + (1.0 - self.energy_weight) * (dF**2).mean()
        return loss, float(dE.detach().abs().sum()) * s, float(dF.detach().abs().sum()) * s

    def _batches(self, data, order):
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield {k: None if t is None else t[idx] for k, t in data.items()}

    def _evaluate(self, data):
        """Validation loss and energy/force MAE (physical units)."""
        self.module_.eval()
        n = len(data["E"])
        total, sE, sF = 0.0, 0.0, 0.0
        for b in self._batches(data, torch.arange(n)):
            loss, e, f = self._loss(b, create_graph=False)
            total += float(loss.detach()) * len(b["E"])
            sE, sF = sE + e, sF + f
        return total / n, sE / n, sF / (n * self.n_atoms_ * 3)

    def _train_loop(self, train, val, fingerprint):
        train = {k: self._tensors(v)[0] for k, v in train.items()}
        val = None if val is None else {k: self._tensors(v)[0] for k, v in val.items()}
        opt = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=self.lr_factor, patience=self.lr_patience,
                                                           min_lr=self.min_lr)
        gen = torch.Generator().manual_seed(self.random_state)
        state = {"epoch": 0, "best_loss": math.inf, "best_state": None, "bad_epochs": 0, "history": [],
                 "stopped_early": False}
        if self.checkpoint is not None and os.path.exists(self.checkpoint):
            state = self._resume(fingerprint, opt, sched, gen)
        n = len(train["E"])
        bar = tqdm(total=self.max_epochs, initial=min(state["epoch"], self.max_epochs), disable=not self.progress,
                   desc=f"{self.model} epochs", unit="epoch")
        while state["epoch"] < self.max_epochs and not state["stopped_early"]:
            self.module_.train()
            order = torch.randperm(n, generator=gen).to(self.device)
            total = 0.0
            for b in self._batches(train, order):
                opt.zero_grad()
                loss, _, _ = self._loss(b, create_graph=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b["E"])
            train_loss = total / n
            record = {"epoch": state["epoch"] + 1, "train_loss": train_loss, "lr": opt.param_groups[0]["lr"]}
            monitored = train_loss
            if val is not None:
                monitored, record["valid_energy_mae"], record["valid_force_mae"] = self._evaluate(val)
                record["valid_loss"] = monitored
            sched.step(monitored)
            if monitored < state["best_loss"]:
                state.update(best_loss=monitored, bad_epochs=0, best_state=copy.deepcopy(self.module_.state_dict()))
            else:
                state["bad_epochs"] += 1
            state["stopped_early"] = state["bad_epochs"] >= self.patience
            state["epoch"] += 1
            state["history"].append(record)
            if self.checkpoint is not None:
                self._write_checkpoint(fingerprint, state, opt, sched, gen)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k.startswith("valid_") or k == "train_loss"})
        bar.close()
        if state["best_state"] is not None:
            self.module_.load_state_dict(state["best_state"])
        self.module_.eval()
        self.history_ = state["history"]
        self.n_epochs_ = state["epoch"]
        self.stopped_early_ = state["stopped_early"]

    def _write_checkpoint(self, fingerprint, state, opt, sched, gen):
        """torch.save to a temporary file beside the checkpoint, then rename (atomic)."""
        path = os.fspath(self.checkpoint)
        payload = {"fingerprint": fingerprint, "state": state, "module": self.module_.state_dict(),
                   "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state()}
        with atomic_open(path, suffix=".pt") as fh:
            torch.save(payload, fh)

    def _resume(self, fingerprint, opt, sched, gen):
        payload = torch.load(self.checkpoint, map_location=self.device, weights_only=False)
        if payload.get("fingerprint") != fingerprint:
            raise ValueError(f"The checkpoint {self.checkpoint!r} belongs to a fit with other parameters or data; "
                             "delete it or choose another checkpoint path.")
        self.module_.load_state_dict(payload["module"])
        opt.load_state_dict(payload["optimizer"])
        sched.load_state_dict(payload["scheduler"])
        gen.set_state(payload["generator"])
        return payload["state"]

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
        if self.periodic_ and cell is None:
            raise ValueError("This model was trained on periodic cells; pass cell= (lattice vectors as rows).")
        if not self.periodic_ and cell is not None:
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
            E[sl] = e.detach().cpu().double().numpy() * self.energy_scale_ + self.energy_mean_
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

    # ------------------------------------------------------------ persistence
    def save(self, path):
        """Write the fitted network to `path` (.npz without pickle, atomic); load with :func:`gdmlkit.models.load_model`."""
        from ..models.io import FORMAT, FORMAT_VERSION, atomic_savez
        from .. import __version__

        check_is_fitted(self, "module_")
        meta = {"estimator": type(self).__name__, "params": self.get_params(), "gdmlkit_version": __version__,
                **{k: getattr(self, k) for k in ("energy_mean_", "energy_scale_", "energy_unit_", "length_unit_",
                                                 "charge_", "spin_", "periodic_", "history_", "n_epochs_",
                                                 "stopped_early_")},
                "pbc_": None if self.pbc_ is None else self.pbc_.tolist()}
        state = {f"state/{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        atomic_savez(path, format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
                     meta=np.array(json.dumps(meta)), z_=self.z_, **state)

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a network saved with :meth:`save`. See :func:`gdmlkit.models.load_model`."""
        from ..models.io import load_model

        return load_model(path, device=device)

    @classmethod
    def _from_saved(cls, data, meta, device):
        """Rebuild from the arrays and metadata of a model file (called by :func:`gdmlkit.models.load_model`)."""
        params = dict(meta["params"], device=device)
        model = cls(**params)
        for key in ("energy_mean_", "energy_scale_", "energy_unit_", "length_unit_", "charge_", "spin_",
                    "periodic_", "history_", "n_epochs_", "stopped_early_"):
            setattr(model, key, meta[key])
        model.pbc_ = None if meta["pbc_"] is None else np.asarray(meta["pbc_"], dtype=bool)
        model.z_ = np.asarray(data["z_"], dtype=np.int64)
        model.n_atoms_ = len(model.z_)
        model.module_ = model._build_module(model.energy_unit_, model.length_unit_)
        state = {k[len("state/"):]: torch.from_numpy(np.asarray(v)) for k, v in data.items() if k.startswith("state/")}
        model.module_.load_state_dict(state)
        model.module_.energy_scale = model.energy_scale_
        model.module_.eval()
        model._z_t = torch.as_tensor(model.z_, device=device)
        return model
