"""Training of an :class:`~gdmlkit.nn.NNRegressor`'s network: validation split, per-element energies,
energy-and-force loss, Adam with a plateau schedule, an exponential moving average of the weights,
early stopping, and resumable per-epoch checkpoints.

The functions take the estimator, whose parameters they read and whose network
(``module_``) they train; :func:`train` returns the final loop state and leaves setting
the fitted attributes to ``fit``.
"""

import copy
import hashlib
import json
import math
import os
import pickle
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from tqdm.auto import tqdm

from ..utils.atomic import atomic_open

__all__ = ["split", "fingerprint", "element_energies", "ExponentialMovingAverage", "train", "write_checkpoint"]

# parameters that may change between an interrupted fit and its resumption
RESUMABLE = ("max_epochs", "checkpoint", "device", "progress")


def split(est, data, charge, spin, valid):
    """Training and validation dicts of arrays (keys R, F, E, cell, charge, spin; validation None
    when not monitored).

    `data` is the estimator's unpacked training set (R (n, n_atoms, 3), F, E (n,), z, cell or
    None, units), `charge`/`spin` (n,) or None. A `valid` Dataset gets the first training
    charge/spin; otherwise ``round(validation_fraction * n)`` (at least one) geometries drawn
    with ``default_rng(random_state)`` are held out.
    """
    n = data["R"].shape[0]
    keys = ("R", "F", "E", "cell")
    full = {k: data[k] for k in keys}
    full["charge"], full["spin"] = charge, spin
    if valid is not None:
        v = est._unpack(valid, None, None, None, None, None, None, None, forces_only=est.energy_weight == 0)
        if not np.array_equal(v["z"], data["z"]):
            raise ValueError("valid holds different atoms (or order) than the training data.")
        if (v["energy_unit"], v["length_unit"]) != (data["energy_unit"], data["length_unit"]):
            raise ValueError(f"valid is in {v['energy_unit']}/{v['length_unit']} but the training data in "
                             f"{data['energy_unit']}/{data['length_unit']}; convert with valid.to_units(...).")
        vc, vs = (None, None) if charge is None else (np.full(len(v["E"]), charge[0]), np.full(len(v["E"]), spin[0]))
        return full, {**{k: v[k] for k in keys}, "charge": vc, "spin": vs}
    if est.validation_fraction == 0:
        return full, None
    n_val = max(1, int(round(est.validation_fraction * n)))
    if n - n_val < 1:
        raise ValueError(f"Too few training geometries: got {n}; with validation_fraction="
                         f"{est.validation_fraction} none is left for training. Pass more data, "
                         "valid=..., or validation_fraction=0.")
    perm = np.random.default_rng(est.random_state).permutation(n)

    def take(idx):
        return {k: None if a is None else a[idx] for k, a in full.items()}

    return take(np.sort(perm[n_val:])), take(np.sort(perm[:n_val]))


def fingerprint(est, data, charge, spin, valid):
    """JSON string of the parameters (except ``RESUMABLE``) and an MD5 of the data, so that a
    checkpoint resumes only the same fit."""
    params = {k: v for k, v in est.get_params().items() if k not in RESUMABLE}
    h = hashlib.md5()
    for a in (data["R"], data["F"], data["E"], data["z"], data["cell"], charge, spin,
              None if valid is None else valid.R):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return json.dumps({"params": params, "data": h.hexdigest()}, sort_keys=True, default=str)


def element_energies(counts, E):
    """Per-element energies e minimising ``||counts @ e - E||_2`` (minimum-norm where the
    compositions do not determine them: for a single composition n, ``e = mean(E) n / |n|^2``).

    Parameters
    ----------
    counts : array (n_samples, n_elements)
        Number of atoms of each element in each geometry.
    E : array (n_samples,)
        Energies.

    Returns
    -------
    ndarray (n_elements,), in the unit of E
    """
    return np.linalg.lstsq(np.asarray(counts, dtype=np.float64), np.asarray(E, dtype=np.float64), rcond=None)[0]


class ExponentialMovingAverage:
    """Averages s of a module's parameters p, updated after each optimisation step:
    ``s <- d s + (1 - d) p`` with ``d = min(decay, (1 + n) / (10 + n))`` at the n-th update
    (torch_ema's warm-up: early averages are not dominated by the initial weights)."""

    def __init__(self, module, decay):
        self.decay = float(decay)
        self.n_updates = 0
        self.shadow = [p.detach().clone() for p in module.parameters()]

    @torch.no_grad()
    def update(self, module):
        self.n_updates += 1
        d = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        for s, p in zip(self.shadow, module.parameters()):
            s.lerp_(p.detach(), 1.0 - d)

    @contextmanager
    def applied(self, module):
        """The averaged weights in `module` inside the block, its own weights restored after it."""
        params = list(module.parameters())
        live = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, s in zip(params, self.shadow):
                p.copy_(s)
        try:
            yield module
        finally:
            with torch.no_grad():
                for p, v in zip(params, live):
                    p.copy_(v)

    def state_dict(self):
        return {"n_updates": self.n_updates, "shadow": self.shadow}

    def load_state_dict(self, state):
        self.n_updates = int(state["n_updates"])
        for s, v in zip(self.shadow, state["shadow"]):
            s.copy_(v)


def _loss(est, batch, create_graph):
    """(loss, sum |dE|, sum |dF|) of a batch dict of tensors.

    The loss is rho * MSE(E) + (1 - rho) * MSE(F) in standardised units (rho = energy_weight);
    the absolute error sums are in the energy unit and energy unit / length unit.
    """
    e, f = est._energies_and_forces(batch["R"], batch["cell"], batch["charge"], batch["spin"], create_graph)
    s = est.energy_scale_
    dE = e - (batch["E"] - est._offset) / s
    dF = f - batch["F"] / s
    loss = est.energy_weight * (dE**2).mean() + (1.0 - est.energy_weight) * (dF**2).mean()
    return loss, float(dE.detach().abs().sum()) * s, float(dF.detach().abs().sum()) * s


def _batches(data, order, batch_size):
    """Dicts of the tensors in `data` at consecutive `batch_size` slices of the index tensor `order`."""
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield {k: None if t is None else t[idx] for k, t in data.items()}


def _evaluate(est, data):
    """Validation loss (standardised), energy MAE and force-component MAE (physical units)."""
    est.module_.eval()
    n = len(data["E"])
    total, sE, sF = 0.0, 0.0, 0.0
    for b in _batches(data, torch.arange(n), est.batch_size):
        loss, e, f = _loss(est, b, create_graph=False)
        total += float(loss.detach()) * len(b["E"])
        sE, sF = sE + e, sF + f
    return total / n, sE / n, sF / (n * est.n_atoms_ * 3)


def train(est, train_set, val_set, fp):
    """Train ``est.module_`` on `train_set`, monitoring `val_set` (the dicts of :func:`split`).

    Batch order is drawn from ``torch.Generator().manual_seed(random_state)``. With
    ``est.ema_decay`` the moving average of the weights is validated and kept. With a
    checkpoint the state after each epoch is written by ``est._write_checkpoint`` and an
    existing checkpoint of the same fingerprint `fp` is resumed. Loads the best epoch's
    (averaged) weights into ``est.module_`` and returns the loop state: epoch, history (list of
    dict per epoch), stopped_early, best_loss, ...
    """
    tensors = {k: est._tensors(v)[0] for k, v in train_set.items()}
    val = None if val_set is None else {k: est._tensors(v)[0] for k, v in val_set.items()}
    opt = torch.optim.Adam(est.module_.parameters(), lr=est.learning_rate)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=est.lr_factor, patience=est.lr_patience,
                                                       min_lr=est.min_lr)
    gen = torch.Generator().manual_seed(est.random_state)
    ema = None if est.ema_decay is None else ExponentialMovingAverage(est.module_, est.ema_decay)
    state = {"epoch": 0, "best_loss": math.inf, "best_state": None, "bad_epochs": 0, "history": [],
             "stopped_early": False}
    if est.checkpoint is not None and os.path.exists(est.checkpoint):
        state = _resume(est, fp, opt, sched, gen, ema)
    n = len(tensors["E"])
    bar = tqdm(total=est.max_epochs, initial=min(state["epoch"], est.max_epochs), disable=not est.progress,
               desc=f"{est.model} epochs", unit="epoch")
    while state["epoch"] < est.max_epochs and not state["stopped_early"]:
        est.module_.train()
        order = torch.randperm(n, generator=gen).to(est.device)
        total = 0.0
        for b in _batches(tensors, order, est.batch_size):
            opt.zero_grad()
            loss, _, _ = _loss(est, b, create_graph=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(est.module_)
            total += float(loss.detach()) * len(b["E"])
        train_loss = total / n
        record = {"epoch": state["epoch"] + 1, "train_loss": train_loss, "lr": opt.param_groups[0]["lr"]}
        monitored = train_loss
        with nullcontext() if ema is None else ema.applied(est.module_):  # validate and keep the average
            if val is not None:
                monitored, record["valid_energy_mae"], record["valid_force_mae"] = _evaluate(est, val)
                record["valid_loss"] = monitored
            if monitored < state["best_loss"]:
                state.update(best_loss=monitored, bad_epochs=0, best_state=copy.deepcopy(est.module_.state_dict()))
            else:
                state["bad_epochs"] += 1
        sched.step(monitored)
        state["stopped_early"] = state["bad_epochs"] >= est.patience
        state["epoch"] += 1
        state["history"].append(record)
        if est.checkpoint is not None:
            est._write_checkpoint(fp, state, opt, sched, gen, ema)
        bar.update(1)
        bar.set_postfix(_progress(record))
    bar.close()
    if state["best_state"] is not None:
        est.module_.load_state_dict(state["best_state"])
    est.module_.eval()
    return state


def _progress(record):
    """Progress-bar fields of an epoch's record: training loss, validation MAEs (training units), lr."""
    names = {"train_loss": "loss", "valid_energy_mae": "val E MAE", "valid_force_mae": "val F MAE", "lr": "lr"}
    return {label: f"{record[k]:.3g}" for k, label in names.items() if k in record}


def write_checkpoint(est, fp, state, opt, sched, gen, ema):
    """torch.save the fingerprint `fp`, loop state, network, optimiser, scheduler, generator and
    moving-average state to ``est.checkpoint``, via a temporary file beside it (atomic)."""
    path = os.fspath(est.checkpoint)
    payload = {"fingerprint": fp, "state": state, "module": est.module_.state_dict(),
               "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "generator": gen.get_state(),
               "ema": None if ema is None else ema.state_dict()}
    with atomic_open(path, suffix=".pt") as fh:
        torch.save(payload, fh)


def _resume(est, fp, opt, sched, gen, ema):
    """Restore network, optimiser, scheduler, generator and moving average from ``est.checkpoint``;
    return its loop state."""
    try:  # weights only: tensors and plain containers, never code from the file
        payload = torch.load(est.checkpoint, map_location=est.device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"The checkpoint {est.checkpoint!r} holds objects other than tensors and plain data, "
                         "which are not loaded (unpickling them could run code). It was not written by "
                         "gdmlkit's network training: delete it or choose another checkpoint path.") from exc
    if payload.get("fingerprint") != fp:
        raise ValueError(f"The checkpoint {est.checkpoint!r} belongs to a fit with other parameters or data; "
                         "delete it or choose another checkpoint path.")
    est.module_.load_state_dict(payload["module"])
    opt.load_state_dict(payload["optimizer"])
    sched.load_state_dict(payload["scheduler"])
    gen.set_state(payload["generator"])
    if ema is not None:
        ema.load_state_dict(payload["ema"])
    return payload["state"]
