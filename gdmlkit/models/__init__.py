"""Estimators, the predictor and model persistence."""

from .gdml import GDMLRegressor
from .io import load_model, save_model
from .predictor import GDMLPredictor

__all__ = ["GDMLRegressor", "GDMLPredictor", "load_model", "save_model"]
