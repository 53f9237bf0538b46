"""Minimal scikit-learn estimator protocol (get_params/set_params/repr) without importing sklearn.

Estimators store their constructor arguments unchanged and do all work in ``fit``,
so ``sklearn.base.clone``, ``GridSearchCV`` and pickling work on them.
"""

import functools
import inspect

import numpy as np

from .exceptions import NotFittedError

__all__ = ["BaseEstimator", "check_is_fitted", "check_query_dataset", "extends_params"]


class BaseEstimator:
    """Parameters are the explicit keyword arguments of ``__init__``."""

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        names = []
        for p in list(sig.parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must not take *args or **kwargs.")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep=True):
        """Constructor parameters as a dict (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set constructor parameters; unknown names raise ValueError. Returns self."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for {type(self).__name__}; valid parameters: {valid}.")
            setattr(self, key, value)
        return self

    def __repr__(self):
        sig = inspect.signature(type(self).__init__)
        changed = []
        for name in self._get_param_names():
            default = sig.parameters[name].default
            value = getattr(self, name)
            try:
                same = bool(value == default)
            except (ValueError, TypeError):
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):  # scikit-learn >= 1.6 asks estimators for their tags
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor", target_tags=TargetTags(required=False),
                    regressor_tags=RegressorTags())


def extends_params(parent_init, **defaults):
    """Decorate a subclass ``__init__(self, <own parameters>, **params)`` so that its signature lists its
    own parameters followed by the parent's keyword parameters (`defaults` overriding the parent's
    defaults), and ``params`` arrives with every parent parameter filled in.

    ``get_params``, ``clone`` and ``help`` then see one explicit signature, without the subclass
    re-typing the parent's parameters.
    """
    def decorate(init):
        own = [p for p in inspect.signature(init).parameters.values() if p.kind != p.VAR_KEYWORD]
        names = {p.name for p in own}
        inherited = [p.replace(default=defaults.get(p.name, p.default))
                     for p in inspect.signature(parent_init).parameters.values()
                     if p.name not in names and p.kind == p.KEYWORD_ONLY]
        unknown = set(defaults) - {p.name for p in inherited}
        if unknown:
            raise TypeError(f"defaults for unknown parent parameters: {sorted(unknown)}")
        sig = inspect.Signature(own + inherited)

        @functools.wraps(init)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            return init(**bound.arguments)

        wrapper.__signature__ = sig
        return wrapper

    return decorate


def check_is_fitted(estimator, attribute):
    """Raise NotFittedError (scikit-learn's wording) unless `attribute` is set."""
    if getattr(estimator, attribute, None) is None:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def check_query_dataset(estimator, dataset):
    """Raise ValueError unless a Dataset to predict on has the fitted model's species and length unit."""
    z = np.asarray(dataset.z)
    if z.shape != estimator.z_.shape or np.any(z != estimator.z_):
        raise ValueError(f"Atomic numbers {z.tolist()} do not match the model's {estimator.z_.tolist()} "
                         "(same species in the same order are required).")
    if estimator.length_unit_ is not None and dataset.length_unit != estimator.length_unit_:
        raise ValueError(f"The dataset's length unit is {dataset.length_unit!r} but the model was trained in "
                         f"{estimator.length_unit_!r}; convert it with dataset.to_units(...).")
