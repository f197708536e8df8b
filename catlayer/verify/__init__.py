"""Verification: proofs and checks of equivariance, with readable reports.

One package, in layers (each module imports only those above it in this list):

* :mod:`~catlayer.verify.report` — the one report type, :class:`EquivarianceReport` (frozen,
  built with keywords); the one tolerance table is :data:`catlayer.tolerance.DEFAULT_TOLERANCE`
  (keyed by dtype name, below every layer so that projection's residual test reads it too);
* :mod:`~catlayer.verify.exact` — exact checks of matrices and functors on the group's
  generators, numeric checks of float matrices, the functor laws (numpy and sympy, no torch);
* :mod:`~catlayer.verify.products` — the same for products of groups;
* :mod:`~catlayer.verify.forward` — the numeric forward check of a torch module
  (:func:`check_forward`: every component, each output order at its scale, sizes and masks for
  ``S()``);
* :mod:`~catlayer.verify.modules` — certificates of catlayer's modules and checks of networks
  (:func:`certify_module`, :func:`check_network`), reached from :mod:`catlayer.nn` through the
  modules' one hook, ``_catlayer_check_equivariance``;
* :mod:`~catlayer.verify.check` — :func:`check_equivariance`, the one entry point;
* :mod:`~catlayer.verify.prove` (with :mod:`~catlayer.verify.rules` and
  :mod:`~catlayer.verify.network`) — :func:`prove_module` for any traced torch program.

``import catlayer.verify`` loads neither torch nor numba: the functions that run torch code
import it when called.

>>> from catlayer import S, PartitionDiagram
>>> from catlayer.verify import check_equivariance
>>> G = S(4)
>>> report = check_equivariance(G, G.functor(PartitionDiagram([[0, 3], [1], [2]], dom=2, cod=2)))
>>> bool(report), report.exact
(True, True)
"""

from ..tolerance import DEFAULT_TOLERANCE, check_samples, check_tolerance, default_tolerance
from .check import check_equivariance
from .exact import check_functor_laws, check_matrix, relabelling_orbits
from .forward import check_forward, describe_element
from .modules import certify_module, check_module, check_network
from .products import check_product_equivariance
from .prove import Counterexample, ProofReport, prove_module
from .report import EquivarianceReport, ForwardCheck, FunctorLawReport, Mismatch

__all__ = [
    "DEFAULT_TOLERANCE",
    "Counterexample",
    "EquivarianceReport",
    "ForwardCheck",
    "FunctorLawReport",
    "Mismatch",
    "ProofReport",
    "certify_module",
    "check_equivariance",
    "check_forward",
    "check_functor_laws",
    "check_matrix",
    "check_module",
    "check_network",
    "check_product_equivariance",
    "check_samples",
    "check_tolerance",
    "default_tolerance",
    "describe_element",
    "prove_module",
    "relabelling_orbits",
]
