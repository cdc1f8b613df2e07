"""Kernel capabilities: generic functions that kernel families register into.

A capability is something only some kernels can do: give a spectral density
(for Hilbert-space bases), sample spectral frequencies (random Fourier
features), a state-space (SDE) form (Kalman filtering), per-axis factors
(Kronecker structure), a closed-form kernel mean (Bayesian quadrature). Each
is one ``functools.singledispatch`` function over the kernel's class, made
with :func:`capability`. A kernel family supports a capability by registering
an implementation::

    @spectral_density.register(MyKernel)
    def _(kernel, omega):
        ...

and the composite kernels (``Sum``, ``Product``, ``Scaled``) are folded by one
registered rule each, so ``MyKernel() + Matern52()`` inherits whatever both
parts support. Registration follows the class hierarchy (a subclass of a
registered family is supported too). A kernel without an implementation
raises :class:`UnsupportedKernelError`, naming the kernel, the capability
and the kernels that have it.

:func:`refuse` attaches a reason to a family that lacks a capability on
purpose (``RBF`` has no finite state-space form, say); the reason becomes
the error message, and the family does not count as supporting it.

The capabilities defined here need nothing above the kernels layer; the
state-space form lives in ``bayeskern.kernels.state_space`` (with its
model class), per-axis factors in ``bayeskern.gp.backends.kronecker_factors``
and closed-form embeddings in ``bayeskern.quadrature.embeddings``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "UnsupportedKernelError",
    "capability",
    "isotropic_unit_frequencies",
    "refuse",
    "sample_frequencies",
    "spectral_density",
    "supported_kernels",
    "supports",
    "unsupported",
]


class UnsupportedKernelError(TypeError, ValueError):
    """A kernel lacks a capability (e.g. ``RBF`` has no state-space form).

    A ``TypeError`` (the kernel is of the wrong kind for the operation) and,
    for compatibility with the checks that preceded the registries, a
    ``ValueError``.
    """


def capability(name: str) -> Callable[[F], F]:
    """Decorator: turn a stub ``def f(kernel, *args)`` into a capability (a singledispatch function).

    The stub's body is not run: the unregistered fallback raises
    :class:`UnsupportedKernelError`. The result has singledispatch's
    ``register``, ``dispatch`` and ``registry`` plus ``capability`` (the
    name used in messages) and ``refusals`` (see :func:`refuse`).

    Args:
        name: what the capability is, as it reads after "has no", e.g.
            ``"state-space form"``.
    """

    def decorate(stub: F) -> F:
        def fallback(kernel, *args, **kwargs):
            raise unsupported(generic, kernel, *args, **kwargs)

        functools.update_wrapper(fallback, stub)
        generic = functools.singledispatch(fallback)
        generic.capability = name
        generic.refusals = {}
        return generic  # type: ignore[return-value]

    return decorate


def refuse(generic: Callable, cls: type, reason: str | Callable[..., str]) -> None:
    """Record why kernel class ``cls`` lacks capability ``generic``: used as its error message.

    ``reason`` is a string, or a function of the capability's arguments
    ``(kernel, *args)`` returning one. ``cls`` does not become supported.
    """
    generic.refusals[cls] = reason


def supports(generic: Callable, kernel: Any) -> bool:
    """Whether ``kernel``'s class (or a base class) has an implementation of ``generic``."""
    return generic.dispatch(type(kernel)) is not generic.registry[object]


def supported_kernels(generic: Callable) -> list[str]:
    """Names of the kernel classes registered for ``generic``, sorted."""
    return sorted(cls.__name__ for cls in generic.registry if cls is not object)


def unsupported(
    generic: Callable, kernel: Any, *args, reason: str | None = None, default: str | None = None, **kwargs
) -> UnsupportedKernelError:
    """The error for ``kernel`` lacking ``generic``: its reason (or a refusal's), the capability and who has it.

    Args:
        generic: the capability.
        kernel: the kernel (or other object) that lacks it.
        *args, **kwargs: the capability's other arguments (passed to a refusal function).
        reason: overrides the recorded refusal.
        default: the reason when no refusal is recorded (else "<name> has no <capability>").
    """
    name = type(kernel).__name__
    if reason is None:
        for cls in type(kernel).__mro__:
            if cls in generic.refusals:
                found = generic.refusals[cls]
                reason = found if isinstance(found, str) else found(kernel, *args, **kwargs)
                break
    if reason is None:
        reason = default or f"{name} has no {generic.capability}"
    return UnsupportedKernelError(
        f"{reason} [capability {generic.__name__!r} is registered for: "
        f"{', '.join(supported_kernels(generic)) or 'no kernel'}; a Kernel family adds it with "
        f"@{generic.__module__}.{generic.__name__}.register(Family)]"
    )


# -- capabilities of the kernels layer ---------------------------------------------------------
@capability("spectral density")
def spectral_density(kernel, omega):
    """Spectral density ``S(ω)`` ``(m,)`` of a stationary ``kernel`` at angular frequencies ``omega`` ``(m, d)``.

    Convention: ``k(τ) = (2π)^{-d} ∫ S(ω) exp(i ωᵀτ) dω``, so ``∫ S = (2π)^d variance``.
    Sums add densities and positive scalings scale them.
    """


@capability("spectral frequency sampler")
def sample_frequencies(kernel, key, num: int, dim: int):
    """Angular frequencies ``(num, dim)`` from ``kernel``'s normalised spectral density.

    ``k(τ) = variance · E[cos(ωᵀτ)]`` for these ``ω`` (random Fourier features);
    ``kernel`` must have a ``variance``.
    """


@capability("isotropic unit-lengthscale spectral density")
def isotropic_unit_frequencies(kernel, key, num: int, dim: int):
    """I.i.d. frequencies ``(num, dim)`` of ``kernel`` at unit lengthscale, whose law is radially symmetric.

    A family registers it when it is a scale family (``ω = ω_unit / lengthscale``,
    ``kernel.replace(lengthscale=1.0, variance=1.0)`` valid) with an isotropic
    unit-lengthscale density: random Fourier features then draw ``ω_unit`` once
    and rescale, and may couple the directions (orthogonal, simplex). The draw
    must not depend on the lengthscale or the variance.
    """
