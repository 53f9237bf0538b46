"""CGNetRegressor: a CGnet-like neural CG force field (harmonic prior + network), trained by force matching
with :class:`~gdmlkit.nn.NNRegressor`."""

import numpy as np

from ..base import BaseEstimator, check_is_fitted
from ..model_format import load_model, register_estimator, write_model_file
from ..nn import NNRegressor
from ..utils.validation import check_positions
from .ensemble import CGGDMLRegressor
from .io import cgnet_state, restore_cgnet
from .prior import HarmonicPrior

__all__ = ["CGNetRegressor"]


@register_estimator
class CGNetRegressor(BaseEstimator):
    """Prior + network, as CGnet: U(R) = U_prior(R) + U_net(R), fitted to the instantaneous mapped forces.

    The :class:`~gdmlkit.coarse_graining.HarmonicPrior` (bonds and angles by Boltzmann inversion) is fitted on
    the training frames; the network (:class:`~gdmlkit.nn.CGNet` inside :class:`~gdmlkit.nn.NNRegressor`,
    forces only, ``energy_weight=0``) learns the forces minus the prior's, with early stopping on held-out
    frames' force-matching loss.

    Parameters
    ----------
    network : NNRegressor, optional
        Template of the network estimator (cloned with ``energy_weight=0``). Default:
        ``NNRegressor('cgnet', model_options={'n_beads': n_beads}, batch_size=64, learning_rate=1e-3,
        max_epochs=500, patience=50, lr_patience=10, dtype='float64')``.
    prior : {'harmonic', None}, default='harmonic'
    kT : float, optional
        Thermal energy in the forces' energy unit (required with the prior).
    random_state : int, default=0
    progress : bool, default=False

    Attributes
    ----------
    network_ : NNRegressor
    prior_ : HarmonicPrior or None
    n_beads_ : int
    """

    def __init__(self, network=None, *, prior="harmonic", kT=None, random_state=0, progress=False):
        self.network = network
        self.prior = prior
        self.kT = kT
        self.random_state = random_state
        self.progress = progress

    def _template(self, n_beads):
        if self.network is not None:
            return self.network
        return NNRegressor("cgnet", model_options={"n_beads": n_beads}, batch_size=64, learning_rate=1e-3,
                           max_epochs=500, patience=50, lr_patience=10, dtype="float64")

    def fit(self, X, y=None):
        """Fit on CG coordinates X (n, n_beads, 3) (or a Dataset) and mapped forces y (n, n_beads, 3). Returns self."""
        if self.prior not in (None, "harmonic"):
            raise ValueError(f"Unknown prior {self.prior!r}; expected 'harmonic' or None.")
        if self.prior is not None and self.kT is None:
            raise ValueError("prior='harmonic' needs kT (thermal energy in the forces' energy unit).")
        R, F = CGGDMLRegressor._unpack(X, y)
        self.n_beads_ = R.shape[1]
        self.prior_ = None if self.prior is None else HarmonicPrior(self.kT).fit(R)
        if self.prior_ is not None:
            F = F - self.prior_.energy_forces(R)[1]
        template = self._template(self.n_beads_)
        params = dict(template.get_params(), energy_weight=0.0, random_state=self.random_state, progress=self.progress)
        self.network_ = type(template)(**params).fit(R, F, z=np.ones(self.n_beads_, dtype=np.int64))
        return self

    def predict(self, X, batch_size=1024):
        """Energies (n,) (up to a constant) and forces (n, n_beads, 3) of CG coordinates X (n, n_beads, 3)."""
        check_is_fitted(self, "network_")
        R = check_positions(X.R if hasattr(X, "R") else X, n_atoms=self.n_beads_)
        E, F = self.network_.predict(R, batch_size=batch_size)
        if self.prior_ is not None:
            E_p, F_p = self.prior_.energy_forces(R)
            E, F = E + E_p, F + F_p
        return E, F

    def describe(self):
        """A few lines on the fitted model (``gdmlkit info`` prints them)."""
        check_is_fitted(self, "network_")
        return "\n".join([repr(self), f"  beads: {self.n_beads_}",
                          f"  prior: {'none' if self.prior_ is None else 'harmonic bonds and angles'}",
                          *self.network_.describe().splitlines()[1:]])

    def save(self, path):
        """Write the fitted model to `path` (one .npz, no pickle, atomic); load with :meth:`load`."""
        check_is_fitted(self, "network_")
        write_model_file(path, self, *cgnet_state(self))

    @classmethod
    def load(cls, path, device="cpu"):
        """Load a model saved with :meth:`save`. See :func:`gdmlkit.model_format.load_model`."""
        return load_model(path, device=device)

    @classmethod
    def _from_saved(cls, data, meta, device):
        return restore_cgnet(cls, data, meta, device)
