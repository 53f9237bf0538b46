"""Estimators, the predictor and model persistence."""

from .bigdml import BIGDMLRegressor
from .gdml import GDMLRegressor
from .io import load_model, save_model
from .predictor import GDMLPredictor

__all__ = ["GDMLRegressor", "BIGDMLRegressor", "GDMLPredictor", "load_model", "save_model"]
