"""Numeric backend: reference numpy path and numba kernels executing plans."""
