"""CGGDMLRegressor: coarse-grained force fields by force matching with an ensemble of GDML models,
each fitted on its own stratified subset of the frames (Wang, Chmiela, Müller, Noé, Clementi,
J. Chem. Phys. 152, 194106 (2020))."""

import itertools
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from ..base import BaseEstimator, check_is_fitted
from ..model_format import load_model, register_estimator, write_model_file
from ..models.predictor import GDMLPredictor
from ..utils.validation import check_positions, check_scalar
from .descriptor import ChiralGDMLRegressor
from .io import ensemble_state, restore_ensemble
from .prior import HarmonicPrior
from .sampling import kmeans, stratified_subsets

__all__ = ["CGGDMLRegressor", "choose_candidate"]

_SAMPLING = ("stratified", "random")


def _grid(value):
    """A float or a sequence of floats as a tuple."""
    return tuple(float(v) for v in np.atleast_1d(value))


def _check_frames(R, F):
    """Raise ValueError naming the frames that hold NaN or inf in R or F."""
    bad = ~(np.isfinite(R).all((1, 2)) & np.isfinite(F).all((1, 2)))
    if bad.any():
        idx = np.nonzero(bad)[0]
        raise ValueError(f"{idx.size} frame(s) hold NaN or inf in the coordinates or forces (first: {idx[:5].tolist()}). "
                         "Drop them first: keep = np.isfinite(R).all((1, 2)) & np.isfinite(F).all((1, 2)); "
                         "R, F = R[keep], F[keep].")


def choose_candidate(frame_score, spread):
    """Index of the candidate to take, by the one-standard-error rule: of the candidates whose mean score is
    within one standard error (over validation frames, of their paired difference) of the best mean score,
    the one whose members vary least (the most regularised).

    The rule guards against the validation frames' noise. It does not see that of the members' draw: the
    variance of few members is noisy exactly for the weakly regularised candidates whose score it lowers most,
    and with two members per candidate such a candidate can still win on a lucky estimate (alanine dipeptide,
    N = 100: 0.5 / 0.003 scores 380.9, its 8-member ensemble 390.9 on the test frames). A larger ``cv``
    (members per candidate) shrinks that noise.

    Parameters
    ----------
    frame_score : (n_candidates, n_val) array
        Each candidate's estimated ensemble error per validation frame.
    spread : (n_candidates,) array
        Each candidate's mean variance between members.
    """
    mean = frame_score.mean(1)
    best = int(np.argmin(mean))
    diff = frame_score - frame_score[best]
    se = diff.std(1, ddof=1) / np.sqrt(frame_score.shape[1]) if frame_score.shape[1] > 1 else np.zeros(len(mean))
    eligible = np.flatnonzero(mean <= mean[best] + se)
    return int(eligible[np.argmin(spread[eligible])])


@register_estimator
class CGGDMLRegressor(BaseEstimator):
    """Coarse-grained force field: the mean of `n_models` GDML force fields, each fitted to the
    instantaneous mapped forces of its own `n_train` frames, drawn stratified over the CG configurations.

    Force matching: the model that minimises the mean squared error to the instantaneous mapped forces is
    the mean force, -grad of the CG free energy (potential of mean force). Each member sees every stratum
    (k-means clusters of the frames), large ``lam`` damps the label noise, and averaging the members
    averages more frames than one kernel system can hold. ``lam`` and ``sigma`` given as lists are chosen
    by cross-validation of that force-matching error on held-out frames, for the ensemble's mean (which needs
    less regularisation than one member).

    GDML members on internal descriptors predict forces that sum to zero on every frame (no net force or
    torque): the mapped forces' net component (solvent drag on the molecule) is not fitted, and is no part of
    the mean force in internal coordinates.

    Parameters
    ----------
    estimator : GDMLRegressor, optional
        Template of the members (cloned; its solver, preconditioner, device ... are kept, ``solver='pcg'``
        for large subsets). Default: :class:`~gdmlkit.coarse_graining.ChiralGDMLRegressor` (inverse distances
        plus the signed volumes of consecutive bead quadruples, which tell mirror images apart).
    n_models : int, default=8
        Ensemble members.
    n_train : int, default=200
        Frames per member.
    sampling : {'stratified', 'random'}, default='stratified'
        Stratified subsets (every stratum in every subset, :func:`~gdmlkit.coarse_graining.stratified_subsets`)
        or plain random ones. Subsets are disjoint.
    n_strata : int, default=10
        k-means clusters of ``fit(..., features=)`` (default: the members' descriptors of the frames).
    allocation : {'proportional', 'equal'}, default='proportional'
        Frames per stratum (at least one each).
    sigma : float or sequence, optional
        Kernel length scale(s) (descriptor units); None keeps the template's. A sequence is cross-validated.
    lam : float or sequence, default=(1.0, 10.0, 100.0)
        Ridge regularisation(s), in (force unit)^2 like the kernel's diagonal. A sequence is cross-validated.
    cv : int, default=2
        Members fitted per candidate (sigma, lam) in cross-validation, each on its own stratified subset.
    n_validation : int, default=1000
        Frames held out for cross-validation (never in its training subsets; the final members may use them).
    prior : {None, 'harmonic'}, default=None
        'harmonic': members fit the forces minus those of a :class:`~gdmlkit.coarse_graining.HarmonicPrior`
        (bonds and angles of the chain, fitted on all frames); predictions add it back. Needs `kT`.
    kT : float, optional
        Thermal energy (energy unit of the forces), for the prior.
    random_state : int, default=0
        Seed of clustering, subsets and validation frames.
    progress : bool, default=False
        Progress bar over member fits.

    Attributes
    ----------
    estimators_ : list of GDMLRegressor
        Fitted members.
    subsets_ : list of int ndarray
        Training frames of each member.
    strata_ : int ndarray (n_frames,) or None
        Stratum of every frame (None with ``sampling='random'``).
    sigma_, lam_ : float
        Values used by the members.
    cv_results_ : dict or None
        ``params`` (list of (sigma, lam)), ``force_mse`` (n_candidates, cv): each CV member's validation mean
        squared force-component error against the instantaneous forces ((force unit)^2), and
        ``ensemble_force_mse`` (n_candidates,): the error estimated for the mean of ``n_models`` members (one
        member's error less (1 - 1/n_models) times the members' variance), ``member_variance``
        (n_candidates,), and ``best_index``: the candidate taken, the most regularised within one standard
        error of the best estimate (:func:`~gdmlkit.coarse_graining.choose_candidate`).
    prior_ : HarmonicPrior or None
    n_beads_ : int

    Examples
    --------
    >>> model = CGGDMLRegressor(n_models=4, n_train=100, lam=10.0).fit(R, F)   # doctest: +SKIP
    >>> E, F_mean, F_std = model.predict(R[:10], return_std=True)           # doctest: +SKIP
    """

    def __init__(self, estimator=None, *, n_models=8, n_train=200, sampling="stratified", n_strata=10,
                 allocation="proportional", sigma=None, lam=(1.0, 10.0, 100.0), cv=2, n_validation=1000, prior=None,
                 kT=None, random_state=0, progress=False):
        self.estimator = estimator
        self.n_models = n_models
        self.n_train = n_train
        self.sampling = sampling
        self.n_strata = n_strata
        self.allocation = allocation
        self.sigma = sigma
        self.lam = lam
        self.cv = cv
        self.n_validation = n_validation
        self.prior = prior
        self.kT = kT
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ inputs
    def _template(self):
        return ChiralGDMLRegressor(sigma=1.0) if self.estimator is None else self.estimator

    def _check_params(self):
        check_scalar(self.n_models, "n_models", min_val=1, integer=True)
        check_scalar(self.n_train, "n_train", min_val=2, integer=True)
        check_scalar(self.n_strata, "n_strata", min_val=1, integer=True)
        check_scalar(self.cv, "cv", min_val=1, integer=True)
        check_scalar(self.n_validation, "n_validation", min_val=1, integer=True)
        if self.sampling not in _SAMPLING:
            raise ValueError(f"Unknown sampling {self.sampling!r}; expected one of {list(_SAMPLING)}.")
        if self.prior not in (None, "harmonic"):
            raise ValueError(f"Unknown prior {self.prior!r}; expected None or 'harmonic'.")
        if self.prior is not None and self.kT is None:
            raise ValueError("prior='harmonic' needs kT (thermal energy in the forces' energy unit; "
                             "gdmlkit.coarse_graining.boltzmann_kT(300, 'kcal/mol') = 0.596).")
        for name in ("sigma", "lam"):
            value = getattr(self, name)
            if value is not None and (len(_grid(value)) == 0 or min(_grid(value)) <= 0):
                raise ValueError(f"{name} must be a positive number or a non-empty list of them; got {value!r}.")

    @staticmethod
    def _unpack(X, y):
        """(R, F) float64 (n, n_beads, 3) of a Dataset or arrays, validated."""
        if hasattr(X, "R") and hasattr(X, "F"):
            if y is not None:
                raise ValueError("Pass either a Dataset or arrays (R, F), not both.")
            X, y = X.R, X.F
        if y is None:
            raise ValueError("Forces are required: fit(R, F) with the mapped forces, or a Dataset with F.")
        R, F = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if R.ndim != 3 or R.shape[2] != 3:
            raise ValueError(f"R must have shape (n_frames, n_beads, 3); got {R.shape}.")
        if F.shape != R.shape:
            raise ValueError(f"F has shape {F.shape} but R has {R.shape}: coordinates and mapped forces need the same "
                             "frames and beads (the same CG mapping). Map both with one mapping matrix.")
        _check_frames(R, F)
        return check_positions(R), F

    def _draw(self, n_frames, labels, n_subsets, exclude, seed):
        """`n_subsets` disjoint subsets of `n_train` frames, avoiding frames in `exclude`."""
        keep = np.setdiff1d(np.arange(n_frames), exclude)
        need = n_subsets * self.n_train
        if len(keep) < need:
            raise ValueError(f"{n_subsets} models x {self.n_train} frames = {need} frames are needed but only "
                             f"{len(keep)} are available{' besides the validation frames' if len(exclude) else ''}. "
                             "Lower n_models or n_train (or n_validation), or pass more frames.")
        if self.sampling == "random":
            perm = np.random.default_rng(seed).permutation(keep)
            return [np.sort(perm[m * self.n_train:(m + 1) * self.n_train]) for m in range(n_subsets)]
        parts = stratified_subsets(labels[keep], self.n_train, n_subsets, allocation=self.allocation, random_state=seed)
        return [keep[p] for p in parts]

    def _member(self, sigma, lam):
        template = self._template()
        params = template.get_params()
        params.update(lam=lam, progress=False)
        if sigma is not None:
            params["sigma"] = sigma
        return type(template)(**params)

    def _fit_members(self, R, F, subsets, sigma, lam, desc="CG GDML members"):
        members = []
        for idx in tqdm(subsets, desc=desc, disable=not self.progress):
            with warnings.catch_warnings():  # CG data has no energies: c_ = 0 is expected
                warnings.filterwarnings("ignore", message="No energy labels")
                members.append(self._member(sigma, lam).fit(R[idx], F[idx], z=self.z_))
        return members

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, *, z=None, features=None):
        """Fit the ensemble by force matching.

        Parameters
        ----------
        X : Dataset or array (n_frames, n_beads, 3)
            CG coordinates (length unit L), or a Dataset with the mapped forces as F (energies are not used).
        y : array (n_frames, n_beads, 3)
            Instantaneous mapped forces (energy unit / L), when X is an array.
        z : int array (n_beads,), optional
            Bead types (default: all 1); only a template with ``perms='auto'`` uses them.
        features : array (n_frames, d), optional
            Coordinates to stratify on, e.g. collective variables such as (cos phi, sin phi, cos psi, sin psi)
            (default: the members' descriptors).

        Returns
        -------
        self
        """
        self._check_params()
        if z is None and hasattr(X, "z"):
            z = X.z
        R, F = self._unpack(X, y)
        n, n_beads = R.shape[:2]
        self.z_ = np.ones(n_beads, dtype=np.int64) if z is None else np.asarray(z, dtype=np.int64)
        if self.z_.shape != (n_beads,):
            raise ValueError(f"z must have one bead type per bead, shape ({n_beads},); got {self.z_.shape}.")
        self.n_beads_ = n_beads
        self.prior_ = None
        if self.prior == "harmonic":
            self.prior_ = HarmonicPrior(self.kT).fit(R)
            F = F - self.prior_.energy_forces(R)[1]
        self.strata_ = None
        if self.sampling == "stratified":
            if features is None:
                features = self._template()._make_descriptor(n_beads).transform(torch.from_numpy(R))[0].numpy()
            features = np.asarray(features, dtype=np.float64).reshape(n, -1)
            if len(features) != n:
                raise ValueError(f"features has {len(features)} rows but there are {n} frames.")
            if self.n_strata > n:
                raise ValueError(f"n_strata == {self.n_strata} but there are only {n} frames; lower n_strata.")
            self.strata_ = kmeans(features, self.n_strata, random_state=self.random_state)[0]
        sigmas = (None,) if self.sigma is None else _grid(self.sigma)
        lams = _grid(self.lam)
        self.cv_results_ = None
        if len(sigmas) * len(lams) > 1:
            sigma, lam = self._cross_validate(R, F, sigmas, lams)
        else:
            sigma, lam = sigmas[0], lams[0]
        self.subsets_ = self._draw(n, self.strata_, self.n_models, np.array([], dtype=np.int64), self.random_state)
        self.estimators_ = self._fit_members(R, F, self.subsets_, sigma, lam)
        self.sigma_ = float(self.estimators_[0].sigma)
        self.lam_ = float(lam)
        self._predictor = None
        return self

    def _cross_validate(self, R, F, sigmas, lams):
        """Best (sigma, lam) by the estimated validation force MSE of an ensemble of `n_models` members, from
        `cv` members per candidate (:func:`~gdmlkit.coarse_graining.choose_candidate`); sets cv_results_.

        Averaging M members divides their variance (over training subsets and label noise) by M, so the
        ensemble's error is that of one member less (1 - 1/M) times the members' variance, which the `cv`
        members estimate without bias (``cv >= 2``; with ``cv = 1`` the ensemble is scored as one member). An
        ensemble therefore wants less regularisation than one model: scoring single members would choose a
        ``lam`` too large for it."""
        n = len(R)
        if self.n_validation >= n:
            raise ValueError(f"n_validation == {self.n_validation} but there are only {n} frames; lower it.")
        val = np.random.default_rng(self.random_state + 1).choice(n, self.n_validation, replace=False)
        subsets = self._draw(n, self.strata_, self.cv, val, self.random_state + 2)
        params = list(itertools.product(sigmas, lams))
        mse = np.zeros((len(params), self.cv))
        frame_score = np.zeros((len(params), len(val)))  # per validation frame: the ensemble estimate
        spread = np.zeros(len(params))
        for i, (sigma, lam) in enumerate(params):
            members = self._fit_members(R, F, subsets, sigma, lam, desc=f"CV sigma={sigma} lam={lam:g}")
            preds = np.stack([member.predict(R[val])[1] for member in members])  # (cv, n_val, n_beads, 3)
            err = np.mean((preds - F[val]) ** 2, axis=(2, 3))  # (cv, n_val)
            var = np.mean(np.var(preds, axis=0, ddof=1), axis=(1, 2)) if self.cv > 1 else np.zeros(len(val))
            mse[i] = err.mean(1)
            frame_score[i] = err.mean(0) - (1.0 - 1.0 / self.n_models) * var
            spread[i] = var.mean()
        best = choose_candidate(frame_score, spread)
        self.cv_results_ = {"params": params, "force_mse": mse, "ensemble_force_mse": frame_score.mean(1),
                            "member_variance": spread, "best_index": best}
        return params[best]

    # ----------------------------------------------------------------- predict
    def _merged_predictor(self):
        """One GDML predictor whose training points are all members' and whose coefficients are divided by
        n_models: it predicts the ensemble mean exactly (the models are linear in their coefficients)."""
        if self._predictor is None:
            ms = self.estimators_
            first = ms[0]
            self._predictor = GDMLPredictor(
                np.concatenate([m.R_desc_ for m in ms]), np.concatenate([m.R_d_desc_alpha_ for m in ms]) / len(ms),
                first._desc_perms(first.perms_), first.sigma, 0.0, self.n_beads_, device=first.device,
                descriptor=first._make_descriptor(self.n_beads_))
        return self._predictor

    def _same_perms(self):
        p = self.estimators_[0].perms_
        return all(m.perms_.shape == p.shape and np.array_equal(m.perms_, p) for m in self.estimators_)

    def predict(self, X, return_std=False, batch_size=None):
        """Ensemble-mean energy (up to a constant) and force, optionally the members' spread.

        Parameters
        ----------
        X : Dataset or array (n, n_beads, 3)
            CG coordinates (L).
        return_std : bool
            Also return the standard deviation of the members' forces.
        batch_size : int, optional

        Returns
        -------
        E : ndarray (n,)
            Mean energy (energy unit, integration constant 0, prior included).
        F : ndarray (n, n_beads, 3)
            Mean force (energy unit / L).
        F_std : ndarray (n, n_beads, 3)
            Only with ``return_std``: standard deviation over the members (0 for one member).
        """
        check_is_fitted(self, "estimators_")
        R = check_positions(X.R if hasattr(X, "R") else X, n_atoms=self.n_beads_)
        if return_std or not self._same_perms():
            Es, Fs = zip(*(m.predict(R, batch_size=batch_size) for m in self.estimators_))
            E, F, F_std = np.mean(Es, 0), np.mean(Fs, 0), np.std(Fs, 0)
        else:
            E, F = self._merged_predictor().predict(R, batch_size=batch_size)
        if self.prior_ is not None:
            E_p, F_p = self.prior_.energy_forces(R)
            E, F = E + E_p, F + F_p
        return (E, F, F_std) if return_std else (E, F)

    def describe(self):
        """A few lines on the fitted ensemble (``gdmlkit info`` prints them)."""
        check_is_fitted(self, "estimators_")
        cv = "" if self.cv_results_ is None else f", chosen from {len(self.cv_results_['params'])} by cross-validation"
        return "\n".join([repr(self), f"  beads: {self.n_beads_}, members: {len(self.estimators_)} "
                          f"({type(self.estimators_[0]).__name__}) of {len(self.subsets_[0])} frames each",
                          f"  sigma = {self.sigma_:g}, lam = {self.lam_:g}{cv}",
                          f"  prior: {'none' if self.prior_ is None else 'harmonic bonds and angles'}"])

    def save(self, path):
        """Write the fitted ensemble to `path` (one .npz, no pickle, atomic); load with :meth:`load`."""
        check_is_fitted(self, "estimators_")
        write_model_file(path, self, *ensemble_state(self))

    @classmethod
    def load(cls, path, device="cpu"):
        """Load an ensemble saved with :meth:`save`. See :func:`gdmlkit.model_format.load_model`."""
        return load_model(path, device=device)

    @classmethod
    def _from_saved(cls, data, meta, device):
        return restore_ensemble(cls, data, meta, device)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_predictor"] = None
        return state
