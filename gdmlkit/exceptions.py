"""Exception and warning types raised by gdmlkit."""

__all__ = [
    "NotFittedError",
    "NotPSDError",
    "ConvergenceWarning",
    "ConvergenceError",
    "PerformanceWarning",
    "ModelFormatError",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before `fit` (same bases as scikit-learn's)."""


class NotPSDError(RuntimeError):
    """The kernel matrix is not positive definite, even after adding jitter."""


class ModelFormatError(ValueError):
    """A model file is not a gdmlkit (or sGDML) model, or has an unsupported version."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before reaching its tolerance."""


class ConvergenceError(RuntimeError):
    """An iterative solver reached its default iteration cap before its tolerance: no model was fitted."""


class PerformanceWarning(UserWarning):
    """A choice was made (or forced) that is correct but slow or memory-hungry."""
