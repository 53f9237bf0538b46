"""Estimators, the predictor, Hessians and harmonic frequencies, and model persistence."""

from .bigdml import BIGDMLRegressor
from .gdml import GDMLRegressor
from .hessian import harmonic_frequencies, model_frequencies, predict_hessian
from .io import load_model, save_model
from .predictor import GDMLPredictor

__all__ = ["GDMLRegressor", "BIGDMLRegressor", "GDMLPredictor", "load_model", "save_model", "predict_hessian",
           "harmonic_frequencies", "model_frequencies"]
