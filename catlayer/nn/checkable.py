"""The hook that makes ``catlayer.verify.check_equivariance(module)`` check catlayer network
modules (see :mod:`catlayer.nn.network_check`)."""

from __future__ import annotations

__all__ = ["Checkable"]


class Checkable:
    """Mixin: ``check_equivariance(self, ...)`` runs :func:`catlayer.nn.network_check.check_network`."""

    def _catlayer_check_equivariance(self, **kwargs):
        from .network_check import check_network

        return check_network(self, **kwargs)
