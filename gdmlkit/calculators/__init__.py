"""Calculators that run fitted models inside other codes."""

from .ase import GDMLCalculator

__all__ = ["GDMLCalculator"]
