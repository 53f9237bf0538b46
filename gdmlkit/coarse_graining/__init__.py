"""Coarse-grained force fields by force matching: an ensemble of GDML models on stratified subsets
(:class:`CGGDMLRegressor`), a CGnet-like network (:class:`CGNetRegressor`), a mirror-aware chain descriptor, a harmonic prior, Langevin dynamics of
the beads and free-energy surfaces."""

from .analysis import backbone_dihedrals, boltzmann_kT, dihedral, fes_error, fes_kl_divergence, free_energy_surface
from .descriptor import ChiralGDMLRegressor, ChiralInverseDistanceDescriptor, chain_quadruples
from .ensemble import CGGDMLRegressor, choose_candidate
from .network import CGNetRegressor
from .langevin import LangevinTrajectory, langevin, time_unit_fs
from .prior import HarmonicPrior
from .sampling import kmeans, stratified_subsets, stratum_sizes

__all__ = ["CGGDMLRegressor", "CGNetRegressor", "ChiralGDMLRegressor", "ChiralInverseDistanceDescriptor", "HarmonicPrior",
           "LangevinTrajectory", "backbone_dihedrals", "boltzmann_kT", "chain_quadruples", "choose_candidate", "dihedral", "fes_error", "fes_kl_divergence",
           "free_energy_surface", "kmeans", "langevin", "stratified_subsets", "stratum_sizes", "time_unit_fs"]
