"""Symbolic core: diagrams, exact combinations, the categories P(n), B(δ), BG(n) and the planar
factorisation. Imports neither numba nor torch."""

from .categories import (
    BrauerCategory,
    BrauerGroodCategory,
    DiagramCategory,
    PartitionCategory,
    natural_category,
)
from .combination import Combination
from .diagram import BrauerDiagram, BrauerGroodDiagram, Diagram, PartitionDiagram
from .factorisation import Factorisation, Split, factorise, split
from .product import ProductCategory, ProductCombination, ProductDiagram

__all__ = [
    "BrauerCategory",
    "BrauerDiagram",
    "BrauerGroodCategory",
    "BrauerGroodDiagram",
    "Combination",
    "Diagram",
    "DiagramCategory",
    "Factorisation",
    "PartitionCategory",
    "PartitionDiagram",
    "ProductCategory",
    "ProductCombination",
    "ProductDiagram",
    "Split",
    "factorise",
    "natural_category",
    "split",
]
