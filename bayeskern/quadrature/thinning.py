"""Kernel thinning (Dwivedi & Mackey 2021, "Kernel Thinning"; 2022, "Generalized Kernel Thinning").

Compresses an input sample of ``n = num · 2^m`` points from the measure to
``num`` points whose equal-weight rule has a much smaller MMD than ``num``
i.i.d. points (``O(√(log n) / num)`` against ``O(1/√num)`` for ``n = num²``):

1. **KT-SPLIT** halves the input ``m`` times. Each halving walks through the
   parent's points in consecutive pairs ``(x, x')`` and sends one to each
   child by the *self-balancing Hilbert walk*: with ``ψ`` the running
   difference ``Σ_{child 2} k(y, ·) - Σ_{child 1} k(y, ·)`` and
   ``f = k(x, ·) - k(x', ·)``, the pair goes ``x → child 1`` (``ψ ← ψ - f``)
   or, with probability ``min(1, ½(1 - ⟨ψ, f⟩/a)₊)``, swapped (``ψ ← ψ + f``).
   The threshold ``a = max(b σ √(2 log(2/δ')), b²)``, ``b = ‖f‖``, and the
   running scale ``σ² ← σ² + b²(1 + (b² - 2a)σ²/a²)₊`` keep ``‖ψ‖`` sub-Gaussian
   with high probability (``δ'`` is the per-step failure probability).
   After ``m`` halvings there are ``2^m`` candidate coresets of ``num`` points.
   The split kernel here is the target kernel itself ("target KT" of the
   generalized paper).
2. **KT-SWAP** takes the candidate (or the baseline "every 2^m-th point")
   with the smallest MMD to the input sample, then visits its points in turn
   and replaces each by the input point that most reduces the MMD to the
   *measure* (the closed-form kernel mean of :mod:`~bayeskern.quadrature.embeddings`
   where one exists, otherwise the MMD to the input sample). Points of the
   coreset stay distinct (a BQ design must not repeat a point).

Everything runs on the ``(n, n)`` Gram matrix of the input (``O(n²)`` memory:
``n = 4096`` is 128 MB in float64) in NumPy; the kernel itself is evaluated once,
in JAX.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from bayeskern._counts import as_count
from bayeskern.kernels import Kernel
from bayeskern.quadrature.embeddings import embed, has_closed_form
from bayeskern.quadrature.measures import Empirical, Measure
from bayeskern.quadrature.qmc import sobol_unit

#: Default cap on the input size ``num · 2^rounds`` when ``rounds`` is not given (the Gram matrix is n²).
MAX_INPUT = 4096
SAMPLES = ("iid", "sobol")


def _check_delta(delta):
    if not (isinstance(delta, (int, float)) and 0.0 < float(delta) < 1.0):
        raise ValueError(f"delta must be a failure probability in (0, 1), got {delta!r}")
    return float(delta)


def _halve(K: np.ndarray, parent: np.ndarray, delta_step: float, rng: np.random.Generator):
    """One KT-SPLIT halving of the input indices ``parent`` ``(p,)`` (``p`` even): two children ``(p/2,)`` each."""
    p = parent.size
    child1 = np.empty(p // 2, dtype=np.int64)
    child2 = np.empty(p // 2, dtype=np.int64)
    # psi[i] = ψ(x_parent[i]) = Σ_{child 2} k(y, x_i) - Σ_{child 1} k(y, x_i), updated pair by pair.
    psi = np.zeros(p)
    sigma2 = 0.0
    log_term = 2.0 * math.log(2.0 / delta_step)
    u = rng.random(p // 2)
    for t in range(p // 2):
        i, j = 2 * t, 2 * t + 1
        x, xp = parent[i], parent[j]
        b2 = max(K[x, x] + K[xp, xp] - 2.0 * K[x, xp], 0.0)
        if b2 == 0.0:  # identical points (or a kernel that cannot tell them apart): either order is balanced
            child1[t], child2[t] = x, xp
            continue
        b = math.sqrt(b2)
        a = max(b * math.sqrt(sigma2 * log_term), b2)
        sigma2 = sigma2 + b2 * max(1.0 + (b2 - 2.0 * a) * sigma2 / (a * a), 0.0)
        alpha = psi[i] - psi[j]  # ⟨ψ, f⟩ with f = k(x, ·) - k(x', ·)
        swap = u[t] < min(1.0, 0.5 * max(1.0 - alpha / a, 0.0))
        # Unswapped: x → child 1, x' → child 2, so ψ gains k(x', ·) - k(x, ·) = -f.
        sign = 1.0 if swap else -1.0
        child1[t], child2[t] = (xp, x) if swap else (x, xp)
        psi += sign * (K[x, parent] - K[xp, parent])
    return child1, child2


def kt_split_indices(K, rounds: int, *, delta: float = 0.5, seed: int = 0) -> np.ndarray:
    """KT-SPLIT on a Gram matrix ``K`` ``(n, n)``: ``2^rounds`` coresets as input indices ``(2^rounds, n / 2^rounds)``.

    The rows partition ``range(n)``; each row keeps the input order of its points.
    The per-halving failure probability at depth ``j`` (1-based) is
    ``δ_{|S|/2} · 2^{j-1} / rounds`` with ``δ_i = delta / n`` (the paper's KT-SPLIT(δ)).
    """
    K = np.asarray(K, dtype=float)
    n = K.shape[0]
    if K.ndim != 2 or K.shape != (n, n):
        raise ValueError(f"K must be a square (n, n) Gram matrix, got shape {K.shape}")
    if not (isinstance(rounds, (int, np.integer)) and rounds >= 1):
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    if n % (1 << rounds):
        raise ValueError(f"the input size ({n}) must be divisible by 2^rounds = {1 << rounds}")
    delta = _check_delta(delta)
    rng = np.random.default_rng(seed)
    level = [np.arange(n)]
    for j in range(1, rounds + 1):
        step = delta / n * 2 ** (j - 1) / rounds
        level = [c for parent in level for c in _halve(K, parent, step, rng)]
    return np.stack(level)


def _sq_mmd(K, idx, target, initial, w):
    """``MMD²`` of the equal-weight rule ``w Σ_{i∈idx} δ_{x_i}`` against a target with kernel mean ``target`` (n,)."""
    return initial - 2.0 * w * target[idx].sum() + w * w * K[np.ix_(idx, idx)].sum()


def kt_swap_indices(K, candidates, target, initial, *, mass: float = 1.0, passes: int = 1) -> np.ndarray:
    """KT-SWAP: the best of ``candidates`` ``(c, s)`` (input indices), refined by greedy point swaps.

    Args:
        K: input Gram matrix ``(n, n)``.
        candidates: candidate coresets ``(c, s)``; the one with the smallest MMD to the
            equal-weight input sample (mass ``mass``) is refined.
        target: kernel mean of the swap target at the input points ``(n,)``.
        initial: ``∫∫ k`` of the swap target ``()``.
        mass: the total weight of the rule (the measure's mass); each point gets ``mass / s``.
        passes: sweeps over the coreset (0: selection only).

    Returns:
        input indices ``(s,)`` of distinct points.
    """
    K = np.asarray(K, dtype=float)
    cand = np.asarray(candidates, dtype=np.int64)
    n, s = K.shape[0], cand.shape[1]
    w = mass / s
    in_target = mass * K.mean(axis=1)
    in_initial = mass * mass * K.mean()
    scores = [_sq_mmd(K, c, in_target, in_initial, w) for c in cand]
    core = cand[int(np.argmin(scores))].copy()
    target = np.asarray(target, dtype=float)
    diag = np.diagonal(K)
    running = K[:, core].sum(axis=1)  # Σ_{c ∈ core} k(·, c) at every input point
    used = np.zeros(n, bool)
    used[core] = True
    for _ in range(passes):
        changed = False
        for pos in range(s):
            c = core[pos]
            # Change of MMD² when c is replaced by z, up to terms that do not depend on z:
            # -2w t(z) + w²(2 Σ_{c'≠c} k(z, c') + k(z, z)).
            gain = -2.0 * w * target + w * w * (2.0 * (running - K[:, c]) + diag)
            gain[used] = np.inf
            gain[c] = -2.0 * w * target[c] + w * w * (2.0 * (running[c] - K[c, c]) + diag[c])
            z = int(np.argmin(gain))
            if z != c and gain[z] < gain[c]:
                running += K[:, z] - K[:, c]
                used[c], used[z] = False, True
                core[pos] = z
                changed = True
        if not changed:
            break
    return core


def _input_sample(measure: Measure, n: int, sample: str, rng: np.random.Generator):
    if isinstance(measure, Empirical):
        m = measure.points.shape[0]
        if n > m:
            raise ValueError(f"the input sample (num · 2^rounds = {n}) is larger than the Empirical measure's {m} "
                             "points; lower rounds or num")
        p = np.asarray(measure.weights, dtype=float)
        idx = rng.choice(m, size=n, replace=False, p=p / p.sum())
        return measure.points[np.sort(idx)]
    if sample == "iid":
        U = rng.random((n, measure.dim))
    else:
        U = sobol_unit(n, measure.dim, seed=int(rng.integers(2**31)))
    return measure.from_unit_cube(jnp.asarray(U))


def kernel_thinning(kernel: Kernel, measure: Measure, num: int, *, rounds: int | None = None, sample: str = "iid",
                    points=None, delta: float = 0.5, swap: bool = True, swap_passes: int = 1, seed: int = 0):
    """Kernel thinning (KT-SPLIT + KT-SWAP) of a sample of the measure: ``num`` points ``(num, d)``.

    Args:
        kernel: the kernel (split and target kernel) whose MMD is minimised.
        measure: the target measure.
        num: number of output points.
        rounds: halvings ``m``; the input has ``num · 2^m`` points. Default: ``m = ⌈log₂ num⌉``
            (``n ≈ num²``, the paper's setting), lowered so that ``n ≤ 4096``, at least 1.
        sample: the input sample, ``"iid"`` draws or ``"sobol"`` (scrambled); an
            :class:`Empirical` measure is subsampled without replacement by its weights.
        points: an explicit input sample ``(n, d)`` instead (``n = num · 2^m``, which fixes ``m``).
        delta: KT-SPLIT's failure probability, in (0, 1).
        swap: run KT-SWAP (else return the first KT-SPLIT coreset).
        swap_passes: KT-SWAP sweeps over the coreset (1 in the paper).
        seed: seed of the input sample and of the Hilbert walk's coin flips.

    Returns:
        ``(num, d)`` distinct input points.
    """
    if not isinstance(kernel, Kernel):
        raise ValueError(f"kernel must be a bayeskern Kernel, got {type(kernel).__name__}")
    if not isinstance(measure, Measure):
        raise ValueError(f"measure must be a Uniform, Gaussian or Empirical measure, got {type(measure).__name__}")
    num = as_count(num, "num")
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {SAMPLES}, got {sample!r}")
    swap_passes = as_count(swap_passes, "swap_passes", minimum=0)
    rounds = None if rounds is None else as_count(rounds, "rounds")
    delta = _check_delta(delta)
    rng = np.random.default_rng(seed)
    if points is not None:
        X = measure.check_points(points, "points")
        n = X.shape[0]
        ratio = n // num
        if n % num or ratio < 2 or ratio & (ratio - 1):
            raise ValueError(f"points must hold num · 2^m points with m >= 1 (num = {num}), got {n}")
        m = ratio.bit_length() - 1
        if rounds is not None and rounds != m:
            raise ValueError(f"rounds = {rounds} disagrees with the {n} points given (num · 2^{m})")
    else:
        if rounds is None:
            m = max(1, min(max(num - 1, 1).bit_length(), (MAX_INPUT // num).bit_length() - 1))
        elif isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
        else:
            m = int(rounds)
        X = _input_sample(measure, num << m, sample, rng)
    K = np.asarray(kernel(X), dtype=float)
    coresets = kt_split_indices(K, m, delta=delta, seed=int(rng.integers(2**31)))
    if not swap:
        return X[coresets[0]]
    if has_closed_form(kernel, measure):
        emb = embed(kernel, measure, X, warn=False)
        target, initial = np.asarray(emb.z, dtype=float), float(emb.initial)
    else:  # MMD to the input sample (the paper's KT-SWAP target)
        target, initial = float(measure.mass) * K.mean(axis=1), float(measure.mass) ** 2 * K.mean()
    # The baseline "standard thinning" (every 2^m-th input point) is a candidate too, as in the paper.
    cands = np.concatenate([coresets, np.arange(K.shape[0])[(1 << m) - 1 :: 1 << m][None]])
    core = kt_swap_indices(K, cands, target, initial, mass=float(measure.mass), passes=int(swap_passes))
    return X[core]
