"""Per-call set-up of the Kronecker back end: mode choice, per-axis matrices, noise and solvers.

``_Setup`` is built inside each jitted computation from a process and its
``_Grid``; it owns the three computational modes ("full", "schur", "cg")
described in ``bayeskern.gp.backends.kronecker``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayeskern.gp.backends.kronecker_factors import axis_gram, factor_kernel
from bayeskern.gp.backends.kronecker_grid import _Grid
from bayeskern.linalg import default_jitter
from bayeskern.linalg.cg import CGInfo, cg_solve
from bayeskern.linalg.kronecker import (
    kron_diag,
    kron_eigh,
    kron_mvp,
    kron_noisy_solve,
    kron_spectral_mvp,
    kron_vector,
)

#: Entries ``(N - n) · N`` up to which missing cells are handled exactly (Schur complement).
SCHUR_BUDGET = 2**23

def _mode(process, grid: _Grid) -> str:
    """``"full"`` (exact eigen), ``"schur"`` (exact, few missing cells) or ``"cg"`` (approximate log det)."""
    homoscedastic = jnp.ndim(process.noise) == 0
    logdet = process.options.get("logdet", "auto")
    if grid.full and homoscedastic:
        return "full"
    if homoscedastic and (logdet == "exact" or (logdet == "auto" and (grid.N - grid.n) * grid.N <= SCHUR_BUDGET)):
        return "schur"
    if logdet == "exact":
        raise ValueError("logdet='exact' needs a scalar (homoscedastic) noise")
    return "cg"


class _Setup:
    """Per-axis matrices, noise and mode of one process on its grid (built inside each computation)."""

    def __init__(self, process, grid: _Grid):
        self.process = process
        self.grid = g = grid
        D = process.X.shape[1]
        factors = factor_kernel(process.kernel, D)
        if isinstance(factors, str):
            raise ValueError(f"structure='kronecker' cannot be used: {factors}")
        self.factors = factors
        mats = [axis_gram(factors.axes[d], g.coords[d], None, d, D) for d in range(D)]
        mats[0] = factors.scale * mats[0]
        self.mats = tuple(mats)
        dtype = self.mats[0].dtype
        noise = jnp.asarray(process.noise, dtype)
        if g.full:
            diag_mean = jnp.prod(jnp.stack([jnp.mean(jnp.diagonal(A)) for A in mats]))
        else:
            diag_mean = jnp.mean(kron_diag(self.mats)[g.cells])
        # The dense back end's relative jitter (on the mean diagonal of K_y), constant for gradients as there.
        jitter = jax.lax.stop_gradient(default_jitter(dtype) * (diag_mean + jnp.mean(noise)))
        self.noise = noise + jitter  # scalar or (n,), row order
        self.mode = _mode(process, g)
        logdet = process.options.get("logdet", "auto")
        self.logdet = "fiedler" if logdet in ("auto", "exact") else logdet
        self.cg_tol = float(process.options.get("cg_tol", 1e-10))
        self.cg_maxiter = int(process.options.get("cg_maxiter", 1000))
        self._schur = None
        self.cg_info = None  # worst CG diagnostics of this computation (mode "cg")

    def diagnostics(self):
        """``CGInfo`` of the worst CG solve so far (zeros when none ran)."""
        return self.cg_info if self.cg_info is not None else CGInfo(jnp.asarray(0), jnp.asarray(0.0))

    # row order <-> grid order
    def to_grid(self, v):
        """``(..., n)`` rows -> ``(..., N)`` grid order, zeros on missing cells."""
        g = self.grid
        if g.full:
            return jnp.take(v, g.perm, axis=-1)
        out = jnp.zeros(v.shape[:-1] + (g.N,), v.dtype)
        return out.at[..., g.cells].set(v)

    def to_rows(self, v):
        """``(..., N)`` grid order -> ``(..., n)`` rows."""
        return jnp.take(v, self.grid.cells, axis=-1)

    # the missing-cell Schur complement (mode "schur")
    def schur(self, rhs=None):
        """``(missing (u,), Z = M⁻¹ E_U (u, N), cholesky of [M⁻¹]_UU (u, u))``; ``M = ⊗K + σ² I``.

        With ``rhs`` ``(B, N)`` (grid order) also ``M⁻¹ rhs``, from the same solve.
        """
        if self._schur is None or rhs is not None:
            g = self.grid
            missing = g.missing
            u = g.N - g.n
            E = jax.nn.one_hot(missing, g.N, dtype=self.mats[0].dtype)
            B = E if rhs is None else jnp.concatenate([E, rhs.astype(E.dtype)], axis=0)
            sol = kron_noisy_solve(self.mats, self.noise, B)  # rows M⁻¹ e_u (M symmetric), then M⁻¹ rhs
            Z = sol[:u]
            G = jnp.take(Z, missing, axis=1)
            L = jnp.linalg.cholesky(0.5 * (G + G.T))
            self._schur = (missing, Z, L)
            if rhs is not None:
                return self._schur + (sol[u:],)
        return self._schur

    # K_y⁻¹ on the observed rows
    def solve(self, R):
        """``K_y⁻¹ R`` for ``R`` ``(..., n)`` (row order) -> ``(..., n)``."""
        if self.mode == "full":
            return self.to_rows(kron_noisy_solve(self.mats, self.noise, self.to_grid(R)))
        if self.mode == "schur":
            return self.to_rows(self._schur_solve_grid(R))
        return self._cg_solve(R)[0]

    def solve_grid(self, r):
        """``K_y⁻¹ r`` scattered onto the grid ``(N,)`` (zeros on missing cells)."""
        if self.mode == "full":
            return kron_noisy_solve(self.mats, self.noise, self.to_grid(r))
        if self.mode == "schur":
            return self._schur_solve_grid(r)
        return self.to_grid(self._cg_solve(r)[0])

    def _schur_solve_grid(self, R):
        R = jnp.asarray(R)
        flat = R.reshape((-1, R.shape[-1]))
        missing, Z, L, x = self.schur(self.to_grid(flat))  # x = M⁻¹ R̃ (B, N)
        c = jax.scipy.linalg.cho_solve((L, True), jnp.take(x, missing, axis=-1).T)  # (u, B)
        return (x - c.T @ Z).reshape(R.shape[:-1] + (self.grid.N,))

    def _cg_parts(self):
        mats = self.mats
        noise = self.noise
        eig = kron_eigh([jax.lax.stop_gradient(A) for A in mats])
        c = jax.lax.stop_gradient(jnp.mean(noise))
        s_pre = 1.0 / (eig.eigenvalues() + c)

        def matvec(v):
            return self.to_rows(kron_mvp(mats, self.to_grid(v))) + noise * v

        def precondition(v):
            return self.to_rows(kron_spectral_mvp(eig, s_pre, self.to_grid(v)))

        return matvec, precondition

    def _cg_solve(self, R):
        matvec, precondition = self._cg_parts()
        R = jnp.asarray(R)
        flat = R.reshape((-1, R.shape[-1]))

        def one(b):
            return cg_solve(matvec, b, precondition=precondition, tol=self.cg_tol, maxiter=self.cg_maxiter)

        X, info = jax.vmap(one)(flat)
        info = CGInfo(jnp.max(info.iterations), jnp.max(info.residual))
        if self.cg_info is not None:
            info = CGInfo(jnp.maximum(info.iterations, self.cg_info.iterations),
                          jnp.maximum(info.residual, self.cg_info.residual))
        self.cg_info = info
        return X.reshape(R.shape), info

    def approx_logdet(self):
        """Deterministic log-determinant approximation of mode "cg" (see the module docstring)."""
        g = self.grid
        lam = kron_vector([jnp.maximum(jnp.linalg.eigvalsh(0.5 * (A + A.T)), 0.0) for A in self.mats])
        lam = jnp.sort(lam)[::-1][: g.n]  # the n largest full-grid eigenvalues, descending
        d = jnp.broadcast_to(self.noise, (g.n,))
        if self.logdet == "scaled":
            h = 1.0 / jnp.mean(1.0 / d)  # harmonic mean noise (= σ² when homoscedastic)
            return jnp.sum(jnp.log(d)) + jnp.sum(jnp.log1p((g.n / g.N) * lam / h))
        return jnp.sum(jnp.log(lam + jnp.sort(d)))
