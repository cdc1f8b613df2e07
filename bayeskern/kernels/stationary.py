"""Stationary kernel families of Rasmussen & Williams (2006), ch. 4.

Each is a function of the lengthscale-scaled distance ``r`` and has output
``variance``. Spectral densities follow the convention of
``Stationary.spectral_density``.

Each family registers its capabilities (``bayeskern.kernels.capabilities``)
right after its class: spectral density, frequency sampling, state-space
form and closed-form transition, or a refusal saying why it has none.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.linalg import block_diag
from jax.scipy.special import gammaln

from bayeskern._checks import as_inputs
from bayeskern.kernels.base import Stationary, _ard_dim, _check_scalar
from bayeskern.kernels.bessel import scaled_bessel_i
from bayeskern.kernels.capabilities import (
    isotropic_unit_frequencies,
    refuse,
    sample_frequencies,
    spectral_density,
)
from bayeskern.kernels.distances import safe_sqrt
from bayeskern.kernels.state_space import (
    StateSpaceModel,
    oscillators,
    real_array,
    scalar_param,
    state_space_form,
)
from bayeskern.kernels.state_space_transitions import rotation, transition_matrix

_NOT_RATIONAL = "{} has no finite state-space form (its spectrum is not rational); use Matern52 or structure='dense'"


def _spectral_density_method(kernel, omega):
    return kernel.spectral_density(omega)


def _sample_frequencies_method(kernel, key, num, dim):
    return kernel.sample_frequencies(key, num, dim)


def _unit_frequencies_method(kernel, key, num, dim):
    return kernel._unit_frequencies(key, num, dim)


class RBF(Stationary):
    """Squared exponential: ``variance * exp(-r² / 2)``."""

    def _profile(self, r2):
        return jnp.exp(-0.5 * r2)

    def _unit_spectral_density(self, w2, d):
        return (2 * math.pi) ** (d / 2) * jnp.exp(-0.5 * w2)

    def _unit_frequencies(self, key, num, d):
        return jax.random.normal(key, (num, d))


spectral_density.register(RBF, _spectral_density_method)
sample_frequencies.register(RBF, _sample_frequencies_method)
isotropic_unit_frequencies.register(RBF, _unit_frequencies_method)
refuse(state_space_form, RBF, _NOT_RATIONAL.format("RBF"))


class _Matern(Stationary):
    """Matérn with half-integer smoothness ``nu`` (class attribute)."""

    nu: float = 0.5

    def _unit_spectral_density(self, w2, d):
        nu = self.nu
        log_c = (
            d * math.log(2.0) + 0.5 * d * math.log(math.pi) + math.lgamma(nu + d / 2)
            + nu * math.log(2 * nu) - math.lgamma(nu)
        )
        return jnp.exp(log_c - (nu + d / 2) * jnp.log(2 * nu + w2))

    def _unit_frequencies(self, key, num, d):
        # Multivariate Student-t with 2ν degrees of freedom.
        kz, kg = jax.random.split(key)
        z = jax.random.normal(kz, (num, d))
        g = jax.random.gamma(kg, self.nu, (num, 1)) / self.nu
        return z / jnp.sqrt(g)


class Matern12(_Matern):
    """Matérn 1/2 (exponential / Ornstein-Uhlenbeck): ``variance * exp(-r)``."""

    nu = 0.5

    def _profile(self, r2):
        return jnp.exp(-safe_sqrt(r2))


class Matern32(_Matern):
    """Matérn 3/2: ``variance * (1 + √3 r) exp(-√3 r)``."""

    nu = 1.5

    def _profile(self, r2):
        s = math.sqrt(3.0) * safe_sqrt(r2)
        return (1.0 + s) * jnp.exp(-s)


class Matern52(_Matern):
    """Matérn 5/2: ``variance * (1 + √5 r + 5r²/3) exp(-√5 r)``."""

    nu = 2.5

    def _profile(self, r2):
        s = math.sqrt(5.0) * safe_sqrt(r2)
        return (1.0 + s + 5.0 * r2 / 3.0) * jnp.exp(-s)


def _matern_unit_frequencies(kernel, key, num, dim):
    """Student-t draws with 2ν degrees of freedom via a chi-square of 2ν normals (the law of
    ``_Matern._unit_frequencies`` without the Gamma rejection sampler, which is slow to compile)."""
    k = int(2 * type(kernel).nu)
    kz, _kg = jax.random.split(key)
    z = jax.random.normal(kz, (num, dim + k))
    g = jnp.sum(z[:, dim:] ** 2, axis=1, keepdims=True) / k  # Gamma(ν, rate ν)
    return z[:, :dim] / jnp.sqrt(g)


@state_space_form.register(Matern12)
def _matern12_state_space(k, J):
    var, lam = real_array(k.variance), 1.0 / scalar_param(k, "lengthscale")
    one = jnp.ones((1, 1), dtype=lam.dtype)
    return StateSpaceModel(F=-lam * one, L=one, Qc=2 * var * lam * one, H=one, Pinf=var * one)


@state_space_form.register(Matern32)
def _matern32_state_space(k, J):
    var, lam = real_array(k.variance), math.sqrt(3.0) / scalar_param(k, "lengthscale")
    z = jnp.zeros_like(lam)
    F = jnp.array([[z, z + 1], [-lam**2, -2 * lam]])
    Pinf = jnp.array([[var, z], [z, lam**2 * var]])
    return StateSpaceModel(
        F=F, L=jnp.array([[0.0], [1.0]], dtype=F.dtype), Qc=jnp.reshape(4 * lam**3 * var, (1, 1)),
        H=jnp.array([[1.0, 0.0]], dtype=F.dtype), Pinf=Pinf,
    )


@state_space_form.register(Matern52)
def _matern52_state_space(k, J):
    var, lam = real_array(k.variance), math.sqrt(5.0) / scalar_param(k, "lengthscale")
    z = jnp.zeros_like(lam)
    F = jnp.array([[z, z + 1, z], [z, z, z + 1], [-lam**3, -3 * lam**2, -3 * lam]])
    c = var * lam**2 / 3
    Pinf = jnp.array([[var, z, -c], [z, c, z], [-c, z, var * lam**4]])
    return StateSpaceModel(
        F=F, L=jnp.array([[0.0], [0.0], [1.0]], dtype=F.dtype),
        Qc=jnp.reshape(16.0 / 3.0 * var * lam**5, (1, 1)),
        H=jnp.array([[1.0, 0.0, 0.0]], dtype=F.dtype), Pinf=Pinf,
    )


@transition_matrix.register(Matern12)
def _matern12_transition(k, dt, J):
    lam = 1.0 / scalar_param(k, "lengthscale")
    return jnp.reshape(jnp.exp(-lam * dt), (1, 1))


def _matern_nilpotent_transition(k, dt, J):
    """``e^{-λ dt} Σ_{j<s} (dt N)^j / j!`` with ``N = F + λI`` nilpotent (Matérn 3/2, 5/2)."""
    model = state_space_form(k, J)
    s = model.state_dim
    lam = math.sqrt(3.0 if s == 2 else 5.0) / scalar_param(k, "lengthscale")
    N = model.F + lam * jnp.eye(s, dtype=model.F.dtype)
    term = jnp.eye(s, dtype=model.F.dtype)
    total = term
    for j in range(1, s):
        term = term @ N * (dt / j)
        total = total + term
    return jnp.exp(-lam * dt) * total


for _family in (Matern12, Matern32, Matern52):
    spectral_density.register(_family, _spectral_density_method)
    sample_frequencies.register(_family, _sample_frequencies_method)
    isotropic_unit_frequencies.register(_family, _matern_unit_frequencies)
transition_matrix.register(Matern32, _matern_nilpotent_transition)
transition_matrix.register(Matern52, _matern_nilpotent_transition)


class RationalQuadratic(Stationary):
    """Rational quadratic: ``variance * (1 + r² / (2 alpha))^(-alpha)``.

    A scale mixture of RBFs with precision ``τ ~ Gamma(alpha, rate=alpha)``.
    """

    _params = {**Stationary._params, "alpha": (1.0, "positive")}

    def _check_shapes(self):
        super()._check_shapes()
        _check_scalar("alpha", self.alpha, "RationalQuadratic")

    def _profile(self, r2):
        return jnp.exp(-self.alpha * jnp.log1p(r2 / (2 * self.alpha)))

    def _unit_spectral_density(self, w2, d):
        # S(w) = E_τ[(2π/τ)^{d/2} exp(-w²/(2τ))], τ ~ Gamma(α, α); the expectation is a
        # smooth 1-D integral, done by the trapezoid rule in log τ on a grid wide
        # enough for the Gamma's bulk and both tails.
        a = self.alpha
        # The Gamma(α, α) density of τ in s = log τ is ∝ exp(α(s - e^s)): its left tail falls
        # like e^{αs} (small α) or e^{-αs²/2} (large α), its right tail like exp(-α e^s); the
        # grid covers both for any α, with a step that resolves the 1/√α peak width.
        lo = -jnp.minimum(jnp.maximum(60.0 / a, 12.0 / jnp.sqrt(a)), 600.0)
        hi = jnp.maximum(jnp.log1p(60.0 / a), 12.0 / jnp.sqrt(a))
        s = lo + (hi - lo) * jnp.linspace(0.0, 1.0, 8193)
        tau = jnp.exp(s)
        log_gamma = a * jnp.log(a) - gammaln(a) + a * s - a * tau  # log p(τ) + log τ (Jacobian)
        log_rbf = 0.5 * d * (math.log(2 * math.pi) - s)[None, :] - 0.5 * w2[:, None] / tau[None, :]
        log_terms = log_gamma[None, :] + log_rbf
        ds = s[1] - s[0]
        weights = jnp.full(s.shape, ds).at[0].set(ds / 2).at[-1].set(ds / 2)
        return jnp.exp(jax.scipy.special.logsumexp(log_terms, b=weights[None, :], axis=1))

    def _unit_frequencies(self, key, num, d):
        kz, kg = jax.random.split(key)
        z = jax.random.normal(kz, (num, d))
        tau = jax.random.gamma(kg, self.alpha, (num, 1)) / self.alpha
        return z * jnp.sqrt(tau)


spectral_density.register(RationalQuadratic, _spectral_density_method)
sample_frequencies.register(RationalQuadratic, _sample_frequencies_method)
isotropic_unit_frequencies.register(RationalQuadratic, _unit_frequencies_method)
refuse(state_space_form, RationalQuadratic, _NOT_RATIONAL.format("RationalQuadratic"))


class Periodic(Stationary):
    """Periodic (ExpSineSquared): ``variance * exp(-2 Σ_d sin²(π τ_d / period_d) / lengthscale_d²)``.

    Matches scikit-learn's ``ExpSineSquared`` in 1-D. ``period`` is a scalar or
    one per dimension. Its spectrum is discrete (harmonics of ``1/period``),
    so it has no spectral density; ``spectral_weights`` gives the harmonic
    weights instead.
    """

    _params = {**Stationary._params, "period": (1.0, "positive")}

    @property
    def input_dim(self):
        dims = {d for d in (_ard_dim(self.lengthscale), _ard_dim(self.period)) if d is not None}
        if len(dims) > 1:
            raise ValueError(f"Periodic: lengthscale and period imply different input dimensions {sorted(dims)}")
        return dims.pop() if dims else None

    def _check_shapes(self):
        super()._check_shapes()
        if jnp.ndim(self.period) > 1:
            raise ValueError(f"Periodic: period must be a scalar or have shape (d,), got {jnp.shape(self.period)}")
        _ = self.input_dim  # evaluated for its check: raises on disagreement

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        d = X1.shape[1]
        ls = jnp.broadcast_to(self.lengthscale, (d,))
        p = jnp.broadcast_to(self.period, (d,))
        diff = X1[:, None, :] - X2[None, :, :]
        s = jnp.sin(math.pi * diff / p) / ls
        return self.variance * jnp.exp(-2.0 * jnp.sum(s * s, axis=-1))

    def _diag(self, X):
        return jnp.broadcast_to(self.variance, X.shape[:1])

    def spectral_weights(self, num_harmonics: int):
        """Weights ``(num_harmonics + 1,)`` of ``cos(2π j τ / period)``, j = 0.. (1-D).

        ``k(τ) = Σ_j q_j cos(2π j τ / period)`` with ``q_0 = variance·e^{-a} I_0(a)``,
        ``q_j = 2 variance·e^{-a} I_j(a)``, ``a = 1/lengthscale²`` (Solin & Särkkä
        2014). Truncation drops the tail ``variance - Σ q_j``.
        """
        a = 1.0 / jnp.asarray(self.lengthscale) ** 2
        i_j = scaled_bessel_i(num_harmonics, a)
        factor = jnp.where(jnp.arange(num_harmonics + 1) == 0, 1.0, 2.0)
        return self.variance * factor * i_j

    def spectral_density(self, omega):
        raise TypeError(
            "Periodic has a discrete spectrum (no spectral density); use spectral_weights(num_harmonics)"
        )

    def sample_frequencies(self, key, num, dim=None):
        raise TypeError(
            "Periodic has a discrete spectrum; sample harmonics from spectral_weights(num_harmonics)"
        )


refuse(spectral_density, Periodic,
       "Periodic has a discrete spectrum (no spectral density); use spectral_weights(num_harmonics)")
refuse(sample_frequencies, Periodic,
       "Periodic has a discrete spectrum; sample harmonics from spectral_weights(num_harmonics)")


@state_space_form.register(Periodic)
def _periodic_state_space(k, J):
    ls, period = scalar_param(k, "lengthscale"), scalar_param(k, "period")
    if J is None:
        raise ValueError(
            "Periodic has only an approximate state-space form (Solin & Särkkä 2014); pass "
            "num_harmonics=J (e.g. 10-40; it gives 2J+1 states, truncation error variance - Σ q_j)"
        )
    q = k.replace(lengthscale=ls, period=period).spectral_weights(J).astype(ls.dtype)
    omegas = 2 * math.pi * jnp.arange(1, J + 1, dtype=ls.dtype) / period
    return oscillators(q[0], omegas, q[1:])


@transition_matrix.register(Periodic)
def _periodic_transition(k, dt, J):
    omega = 2 * math.pi / scalar_param(k, "period")
    blocks = [jnp.ones((1, 1), dtype=jnp.result_type(omega))]
    blocks += [rotation(j * omega * dt) for j in range(1, J + 1)]
    return block_diag(*blocks)


class Cosine(Stationary):
    """Cosine: ``variance * cos(2π Σ_d τ_d / period_d)``.

    Positive semi-definite (its spectrum is two points, ``±2π/period``).
    """

    _params = {"period": (1.0, "positive"), "variance": (1.0, "positive")}

    @property
    def input_dim(self):
        return _ard_dim(self.period)

    def _check_shapes(self):
        if jnp.ndim(self.period) > 1:
            raise ValueError(f"Cosine: period must be a scalar or have shape (d,), got {jnp.shape(self.period)}")
        _check_scalar("variance", self.variance, "Cosine")

    def _phase(self, X):
        p = jnp.broadcast_to(self.period, (X.shape[1],))
        return 2 * math.pi * jnp.sum(X / p, axis=1)

    def _gram(self, X1, X2):
        a = self._phase(X1)
        b = a if X2 is None else self._phase(X2)
        # cos(a - b) written as a sum of products: exact at a == b and cheap.
        return self.variance * (jnp.cos(a)[:, None] * jnp.cos(b)[None, :] + jnp.sin(a)[:, None] * jnp.sin(b)[None, :])

    def _diag(self, X):
        return jnp.broadcast_to(self.variance, X.shape[:1])

    def spectral_density(self, omega):
        raise TypeError("Cosine has a discrete spectrum (two points at ±2π/period), no spectral density")

    def sample_frequencies(self, key, num, dim=None):
        """Frequencies ``(num, d)``: all equal to ``2π/period`` (the sign is irrelevant for cos)."""
        d = self.input_dim or dim
        if d is None:
            raise ValueError("Cosine.sample_frequencies needs dim= when the period is a scalar")
        w = 2 * math.pi / jnp.broadcast_to(self.period, (d,))
        return jnp.broadcast_to(w, (num, d))


refuse(spectral_density, Cosine, "Cosine has a discrete spectrum (two points at ±2π/period), no spectral density")
sample_frequencies.register(Cosine, _sample_frequencies_method)


@state_space_form.register(Cosine)
def _cosine_state_space(k, J):
    omega = 2 * math.pi / scalar_param(k, "period")
    return oscillators(None, jnp.reshape(omega, (1,)), jnp.reshape(real_array(k.variance), (1,)))


@transition_matrix.register(Cosine)
def _cosine_transition(k, dt, J):
    return rotation(2 * math.pi / scalar_param(k, "period") * dt)


class SpectralMixture(Stationary):
    """Spectral mixture (Wilson & Adams 2013) with Q components.

    ``k(τ) = Σ_q weights_q cos(2π τᵀ means_q) ∏_d exp(-2π² τ_d² scales_qd²)``
    (Wilson & Adams 2013, eq. 12): each component's spectrum is a pair of
    Gaussians at ``±means_q``.

    Args:
        weights: ``(Q,)`` component variances.
        means: ``(Q, d)`` (or ``(Q,)`` in 1-D) spectral means in cycles per unit input.
        scales: ``(Q, d)`` (or ``(Q,)``) spectral standard deviations, cycles per unit.
    """

    _params = {"weights": (None, "positive"), "means": (None, "nonnegative"), "scales": (None, "positive")}

    @property
    def input_dim(self):
        return 1 if jnp.ndim(self.means) == 1 else int(jnp.shape(self.means)[1])

    @property
    def variance(self):
        return jnp.sum(self.weights)

    def _check_shapes(self):
        w, m, s = (jnp.shape(x) for x in (self.weights, self.means, self.scales))
        if len(w) != 1:
            raise ValueError(f"SpectralMixture: weights must have shape (Q,), got {w}")
        if m != s or len(m) not in (1, 2) or m[0] != w[0]:
            raise ValueError(
                f"SpectralMixture: means and scales must both have shape (Q,) or (Q, d) with Q = {w[0]}, "
                f"got {m} and {s}"
            )

    def _components(self):
        m = self.means if jnp.ndim(self.means) == 2 else self.means[:, None]
        s = self.scales if jnp.ndim(self.scales) == 2 else self.scales[:, None]
        return m, s

    def _gram(self, X1, X2):
        X2 = X1 if X2 is None else X2
        m, s = self._components()
        diff = X1[:, None, :] - X2[None, :, :]  # (n1, n2, d)
        expo = -2 * math.pi**2 * jnp.einsum("abd,qd->qab", diff * diff, s * s)
        cos = jnp.cos(2 * math.pi * jnp.einsum("abd,qd->qab", diff, m))
        return jnp.einsum("q,qab->ab", self.weights, jnp.exp(expo) * cos)

    def _diag(self, X):
        return jnp.broadcast_to(self.variance, X.shape[:1])

    def spectral_density(self, omega):
        """Symmetrised Gaussian-mixture density in angular frequency, ``(m,)``."""
        omega = as_inputs(omega, "omega")
        self._check_input_dim(omega.shape[1], "omega")
        m, s = self._components()
        freq = omega / (2 * math.pi)  # cycles

        def comp(sign):
            z = (freq[:, None, :] - sign * m[None]) / s[None]
            log_n = -0.5 * jnp.sum(z * z, -1) - jnp.sum(jnp.log(s), -1)[None] - 0.5 * m.shape[1] * math.log(2 * math.pi)
            return jnp.exp(log_n)

        return 0.5 * (comp(1.0) + comp(-1.0)) @ self.weights

    def sample_frequencies(self, key, num, dim=None):
        """Angular frequencies ``(num, d)``: pick a component by weight, then a Gaussian draw."""
        m, s = self._components()
        kc, kz, ks = jax.random.split(key, 3)
        q = jax.random.categorical(kc, jnp.log(self.weights), shape=(num,))
        z = jax.random.normal(kz, (num, m.shape[1]))
        sign = jnp.where(jax.random.bernoulli(ks, 0.5, (num, 1)), 1.0, -1.0)
        return 2 * math.pi * (sign * m[q] + s[q] * z)


spectral_density.register(SpectralMixture, _spectral_density_method)
sample_frequencies.register(SpectralMixture, _sample_frequencies_method)
refuse(state_space_form, SpectralMixture, _NOT_RATIONAL.format("SpectralMixture"))
