"""Group families, one module each, registered here: S(n), O(n), SO(n), Sp(n), and the
indefinite orthogonal groups O(p, q), SO(p, q) (O(1, 3) is the Lorentz group).

>>> from catlayer import S, O, SO, Sp
>>> G = S(4)
>>> G, G.category
(S(4), PartitionCategory(4))
>>> len(G.basis(2, 2)), G.dim(2, 2)
(15, 15)
>>> [Sp(4).dim(k, 2) for k in range(5)]
[1, 0, 3, 0, 14]
>>> O(1, 3).metric.diagonal().tolist()
[1, -1, -1, -1]
"""

from .base import Generator, Group
from .indefinite import IndefiniteOrthogonal, IndefiniteSpecialOrthogonal
from .orthogonal import O
from .product import FactorGenerator, ProductGroup
from .special_orthogonal import SO
from .symmetric import S
from .symplectic import Sp, symplectic_sign

# Registration: O(p, q) and SO(p, q) with q > 0 build the indefinite family.
O.register_indefinite(IndefiniteOrthogonal)
SO.register_indefinite(IndefiniteSpecialOrthogonal)

__all__ = [
    "SO",
    "FactorGenerator",
    "Generator",
    "Group",
    "IndefiniteOrthogonal",
    "IndefiniteSpecialOrthogonal",
    "O",
    "ProductGroup",
    "S",
    "Sp",
    "symplectic_sign",
]
