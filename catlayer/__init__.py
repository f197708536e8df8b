"""catlayer: fast, trainable, provably equivariant layers from diagram categories.

>>> from catlayer import PartitionCategory
>>> len(PartitionCategory(5).hom(2, 2))
15
"""

from .diagrams import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
    Diagram,
    DiagramCategory,
    Factorisation,
    PartitionCategory,
    PartitionDiagram,
    ProductCategory,
    ProductCombination,
    ProductDiagram,
    factorise,
)
from .groups import SO, O, ProductGroup, S, Sp

__version__ = "0.1.0"

__all__ = [
    "SO",
    "BrauerCategory",
    "BrauerDiagram",
    "BrauerGroodCategory",
    "BrauerGroodDiagram",
    "Combination",
    "Diagram",
    "DiagramCategory",
    "Factorisation",
    "O",
    "PartitionCategory",
    "PartitionDiagram",
    "ProductCategory",
    "ProductCombination",
    "ProductDiagram",
    "ProductGroup",
    "S",
    "Sp",
    "factorise",
]
