"""Impact estimators: energy, CO2e, water and resources for each request."""

from estimators.impacts import Criteria, ImpactProfile, Impacts, Range, SupplierFactor

__all__ = ["Criteria", "ImpactProfile", "Impacts", "Range", "SupplierFactor"]
