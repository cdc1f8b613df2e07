"""bayeskern: kernel-based Bayesian modelling for NumPyro.

Importing bayeskern turns on JAX's float64 mode (Gaussian-process linear
algebra in float32 fails silently far too often). Set the environment
variable ``BAYESKERN_X64=0`` before importing to keep float32; a warning then
says so once.
"""

from bayeskern._config import ensure_float64 as _ensure_float64

_ensure_float64()

__version__ = "0.1.0"
