"""One way to give a kernel: an instance, a class or a callable, resolved inside a NumPyro model.

Every bayeskern model piece that takes a kernel (``gp.latent``,
``gp.laplace_marginal``, ``cox.fit`` and its models, ``quadrature.integrate``,
``optimize.GPSurrogate``) accepts the same :data:`KernelSpec`:

* a :class:`~bayeskern.kernels.Kernel` **instance**: hyperparameters fixed
  (they may be values sampled earlier in the model);
* a kernel **class** (a family such as ``Matern52``): each hyperparameter is
  sampled as the site ``f"{prefix}_{name}"`` with bayeskern's data-scaled
  default prior (:func:`~bayeskern.priors.sample_kernel`);
* a **callable** ``(prefix, X) -> Kernel``: the user's own priors, sampled
  inside the model under names the user chooses.

:func:`resolve_kernel` turns a spec into a kernel; :func:`kernel_spec_kind`
only classifies it (for pieces that accept a subset of the forms, e.g. the BO
surrogate takes a class). Anything else is a :class:`KernelSpecError` naming
the argument and the three forms; a string such as ``"matern52"`` is refused
with the class to pass instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from bayeskern import kernels as _kernels
from bayeskern.kernels.base import Kernel
from bayeskern.priors.kernel_params import check_kernel_class
from bayeskern.priors.sample import sample_kernel

__all__ = ["KERNEL_SPEC_FORMS", "KernelSpec", "KernelSpecError", "kernel_spec_kind", "resolve_kernel"]

#: A kernel as every bayeskern model piece accepts it: an instance (fixed), a class (sampled with the
#: data-scaled default priors) or a callable ``(prefix, X) -> Kernel`` (the user's own priors).
KernelSpec = Kernel | type[Kernel] | Callable[[str, Any], Kernel]

KERNEL_SPEC_FORMS = (
    "a Kernel instance (hyperparameters fixed, e.g. bk.kernels.Matern52(lengthscale=0.3)), "
    "a kernel class (hyperparameters sampled with data-scaled default priors, e.g. bk.kernels.Matern52) "
    "or a callable (prefix, X) -> Kernel"
)


class KernelSpecError(TypeError, ValueError):
    """A kernel was given in none of the three accepted forms.

    A ``TypeError`` (the argument is of the wrong kind) and, for callers that
    checked the older per-module errors, a ``ValueError``.
    """


def _class_hint(name: str) -> str:
    """``" (pass bk.kernels.Matern52)"`` for a string naming a kernel family, else a generic hint."""
    key = name.lower().replace("_", "").replace("-", "").replace(" ", "")
    for attr in getattr(_kernels, "__all__", dir(_kernels)):
        obj = getattr(_kernels, attr, None)
        if isinstance(obj, type) and issubclass(obj, Kernel) and attr.lower() == key:
            return f"pass the class bk.kernels.{attr}"
    return "pass a class such as bk.kernels.Matern52"


def kernel_spec_kind(kernel: object, argname: str = "kernel") -> Literal["instance", "class", "callable"]:
    """Which form of :data:`KernelSpec` ``kernel`` is: ``"instance"``, ``"class"`` or ``"callable"``.

    Raises:
        KernelSpecError: ``kernel`` is none of them (a string, None, a number, a combinator class such as
            ``Sum``); the message names ``argname`` and lists the three forms.
    """
    if isinstance(kernel, Kernel):
        return "instance"
    if isinstance(kernel, str):
        raise KernelSpecError(f"{argname} must be {KERNEL_SPEC_FORMS}; got the string {kernel!r}: "
                              f"{_class_hint(kernel)}")
    if isinstance(kernel, type):
        try:
            check_kernel_class(kernel)
        except TypeError as err:
            raise KernelSpecError(f"{argname} must be {KERNEL_SPEC_FORMS}; got the class {kernel.__name__}"
                                  + (f" ({err})" if issubclass(kernel, Kernel) else "")) from None
        return "class"
    if callable(kernel):
        return "callable"
    raise KernelSpecError(f"{argname} must be {KERNEL_SPEC_FORMS}; got {type(kernel).__name__} {kernel!r:.60}")


def resolve_kernel(
    kernel: KernelSpec | None,
    prefix: str,
    X=None,
    y=None,
    *,
    default: KernelSpec | None = None,
    argname: str = "kernel",
    **prior_options,
) -> Kernel:
    """The kernel a model piece uses, from any :data:`KernelSpec`; call inside a NumPyro model.

    * instance: returned as is (no sites);
    * class: ``sample_kernel(prefix, kernel, X, y, **prior_options)``: sites ``f"{prefix}_{name}"``
      per hyperparameter with the data-scaled default priors (or those in ``prior_options``);
    * callable: ``kernel(prefix, X)``, which must return a ``Kernel``;
    * None: ``default`` resolved the same way (a piece's own default family), or an error when
      there is none.

    ``prior_options`` (``ard``, ``pc_prior``, ``num_mixtures``, per-hyperparameter priors or values)
    apply to a class only; an instance or a callable already says everything.

    Example::

        def model(X, y):
            k = bk.priors.resolve_kernel(Matern52, "f", X, y)   # sites f_lengthscale, f_variance
            numpyro.sample("y", bk.gp.GaussianProcess(k, X, noise=0.1), obs=y)

        resolve_kernel(Matern52(lengthscale=0.3), "f", X)          # fixed: no sites
        resolve_kernel(lambda p, X: Matern52(lengthscale=numpyro.sample(f"{p}_ell", dist.Gamma(2, 4))), "f", X)

    Args:
        kernel: the spec, or None for ``default``.
        prefix: non-empty site-name prefix for a class (and passed to a callable); a model piece
            passes its own name, so a class given to ``latent("f", ...)`` samples ``f_lengthscale``.
        X: inputs ``(n,)`` or ``(n, d)``: the data-scaled lengthscale priors and ``d`` for a class, the
            second argument of a callable; concrete or traced (see ``priors.data``).
        y: observations ``(n,)`` (any shape) for variance-type defaults of a class, or None
            (weakly informative: ``LogNormal(0, 1)``, standardised outputs). Latent-field pieces
            pass None: their observations are not on the scale of the latent function.
        default: the spec used when ``kernel`` is None.
        argname: the argument's name in error messages.
        **prior_options: keyword arguments of :func:`~bayeskern.priors.sample_kernel` for a class.

    Returns:
        A :class:`~bayeskern.kernels.Kernel`.

    Raises:
        KernelSpecError: ``kernel`` (or ``default``) is not a spec, a callable did not return a
            ``Kernel``, or both are None. A ``TypeError`` (and a ``ValueError``).
        ValueError, TypeError: from :func:`~bayeskern.priors.sample_kernel` for a class (bad data,
            bad prior options).
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
    if kernel is None:
        if default is None:
            raise KernelSpecError(f"{argname} is required: {KERNEL_SPEC_FORMS}")
        kernel = default
    kind = kernel_spec_kind(kernel, argname)
    if kind == "instance":
        return kernel
    if kind == "class":
        return sample_kernel(prefix, kernel, X, y, **prior_options)
    out = kernel(prefix, X)
    if not isinstance(out, Kernel):
        raise KernelSpecError(
            f"{argname}: a callable kernel spec is called as {argname}(prefix, X) and must return a bayeskern "
            f"Kernel; {getattr(kernel, '__name__', type(kernel).__name__)}({prefix!r}, X) returned "
            f"{type(out).__name__}. (A covariance function k(X1, X2) is not a spec: give a Kernel.)"
        )
    return out
