"""Scaling laws and their fits: power laws, the Chinchilla parametric loss, isoFLOP minima.

Conventions used throughout:

* Logarithms are natural unless a name says otherwise.
* A power law is written ``y = A * x**-alpha (+ E)``, so a *decreasing* curve has ``alpha > 0``.
* Fits are judged in log space (relative error), because losses and compute span decades and
  an absolute error at small loss would otherwise be swamped by the large-loss points.
* Every fit returns a frozen dataclass with ``predict`` and ``as_dict``; ``as_dict`` gives the
  named floats that :func:`bootstrap` collects and that ``predict_fn`` in :func:`extrapolate`
  receives.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeResult, least_squares, minimize
from threadpoolctl import threadpool_limits

__all__ = [
    "COARSE_GRID",
    "HOFFMANN_GRID",
    "AllocationFit",
    "ChinchillaFit",
    "PowerLawFit",
    "allocation_exponent",
    "chinchilla_objective",
    "fit_chinchilla",
    "fit_power_law",
]

# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _positive_array(name: str, values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise naming the first bad entry."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must contain only positive finite numbers; got {name}[{index}] = "
            f"{float(array[index])!r}"
        )
    return array


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length; got lengths {lengths}")
    return next(iter(lengths.values()))


def _require_distinct(name: str, values: np.ndarray, minimum: int, why: str) -> None:
    distinct = len(np.unique(values))
    if distinct < minimum:
        raise ValueError(
            f"{name} needs at least {minimum} distinct values {why}; got {distinct} "
            f"(from {len(values)} points)"
        )


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")


# --------------------------------------------------------------------------------------------
# Power laws
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """``y = A * x**-alpha + E`` (``E`` is 0.0 when fitted without an offset).

    ``rmse_log`` is the root-mean-square residual ``log y - log prediction`` on the fitted data.
    """

    A: float
    alpha: float
    E: float
    offset: bool
    n: int
    rmse_log: float

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Predicted ``y`` at ``x``."""
        return self.A * np.asarray(x, dtype=float) ** -self.alpha + self.E

    def as_dict(self) -> dict[str, float]:
        """The parameters ``A``, ``alpha`` and ``E`` as plain floats."""
        return {"A": self.A, "alpha": self.alpha, "E": self.E}


def _log_linear_fit(log_x: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    """Least squares of ``log y = log A - alpha * log x``; returns ``(log A, alpha)``."""
    design = np.column_stack([np.ones_like(log_x), -log_x])
    (log_a, alpha), *_ = np.linalg.lstsq(design, log_y, rcond=None)
    return float(log_a), float(alpha)


def _offset_residuals(params: np.ndarray, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    log_a, alpha, e = params
    return np.log(np.exp(log_a - alpha * log_x) + e) - log_y


def _offset_jacobian(params: np.ndarray, log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    log_a, alpha, e = params
    power_term = np.exp(log_a - alpha * log_x)
    prediction = power_term + e
    return (
        np.column_stack([power_term, -log_x * power_term, np.ones_like(log_x)])
        / prediction[:, None]
    )


# Starting values for E as fractions of min(y): the asymptote may sit anywhere below the data.
_OFFSET_START_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99)


def _fit_with_offset(log_x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    log_y = np.log(y)
    # E must stay strictly below min(y), or log(y - E) and the fit's own log are undefined.
    upper_e = float(y.min()) * (1 - 1e-9)
    best: OptimizeResult | None = None
    for fraction in _OFFSET_START_FRACTIONS:
        e_start = fraction * upper_e
        # Given a guess for E, log(y - E) is linear in log x: that gives A and alpha to start.
        log_a_start, alpha_start = _log_linear_fit(log_x, np.log(y - e_start))
        result = least_squares(
            _offset_residuals,
            x0=[log_a_start, alpha_start, e_start],
            jac=_offset_jacobian,
            bounds=([-np.inf, -np.inf, 0.0], [np.inf, np.inf, upper_e]),
            args=(log_x, log_y),
            x_scale="jac",
        )
        if np.isfinite(result.cost) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise RuntimeError("power law with offset: no starting value gave a finite fit")
    log_a, alpha, e = best.x
    return float(np.exp(log_a)), float(alpha), float(e)


def fit_power_law(x: ArrayLike, y: ArrayLike, offset: bool = False) -> PowerLawFit:
    """Fit ``y = A * x**-alpha`` (plus a constant ``E`` when ``offset`` is true).

    Without an offset this is ordinary least squares on ``log y`` against ``log x`` (closed
    form). With an offset it is nonlinear least squares on the log residuals
    ``log y - log(A x**-alpha + E)``, started from several guesses of ``E`` in ``[0, min y)``;
    ``E`` is constrained to that interval, so an ``E`` at 0 means the data show no floor.

    Raises ``ValueError`` for non-positive or non-finite values, unequal lengths, or too few
    distinct ``x`` (2 without offset, 3 with).
    """
    x_array = _positive_array("x", x)
    y_array = _positive_array("y", y)
    n = _same_length(x=x_array, y=y_array)
    n_params = 3 if offset else 2
    _require_distinct("x", x_array, n_params, f"to fit {n_params} parameters")
    log_x = np.log(x_array)
    if offset:
        a, alpha, e = _fit_with_offset(log_x, y_array)
    else:
        log_a, alpha = _log_linear_fit(log_x, np.log(y_array))
        a, e = math.exp(log_a), 0.0
    residuals = np.log(y_array) - np.log(a * x_array**-alpha + e)
    return PowerLawFit(
        A=a,
        alpha=alpha,
        E=e,
        offset=offset,
        n=n,
        rmse_log=float(np.sqrt(np.mean(residuals**2))),
    )


# --------------------------------------------------------------------------------------------
# Chinchilla Approach 3: L(N, D) = E + A / N**alpha + B / D**beta
# --------------------------------------------------------------------------------------------

# Hoffmann et al. (2022), Approach 3: L-BFGS from every point of this grid, keep the best.
# Values are for the log-space parameters a = log A, b = log B, e = log E.
HOFFMANN_GRID: Mapping[str, tuple[float, ...]] = {
    "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
    "beta": (0.0, 0.5, 1.0, 1.5, 2.0),
    "e": (-1.0, -0.5, 0.0, 0.5, 1.0),
    "a": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
    "b": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
}
# A 3x3x3x4x4 = 432-start subset of the same ranges (every other value, plus the ends), for
# small data sets, bootstraps and tests: on the Epoch reconstruction it finds the same optimum
# as the full 4,500-start grid.
COARSE_GRID: Mapping[str, tuple[float, ...]] = {
    "alpha": (0.0, 1.0, 2.0),
    "beta": (0.0, 1.0, 2.0),
    "e": (-1.0, 0.0, 1.0),
    "a": (0.0, 10.0, 20.0, 25.0),
    "b": (0.0, 10.0, 20.0, 25.0),
}
_GRID_KEYS = ("a", "b", "e", "alpha", "beta")  # order of the internal parameter vector


def chinchilla_objective(
    theta: ArrayLike,
    log_n: np.ndarray,
    log_d: np.ndarray,
    log_loss: np.ndarray,
    delta: float,
) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of the log residuals, and its gradient, at ``theta``.

    ``theta = (a, b, e, alpha, beta)`` with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``; the
    predicted log loss is ``LSE(a - alpha log N, b - beta log D, e)``. Because the derivative
    of a log-sum-exp is the softmax of its terms, the gradient is the Huber derivative
    ``clip(r, -delta, delta)`` times those softmax weights (times ``-log N`` or ``-log D`` for
    the exponents).
    """
    a, b, e, alpha, beta = np.asarray(theta, dtype=float)
    term_n = a - alpha * log_n
    term_d = b - beta * log_d
    # Subtract the largest term before exponentiating, so huge a or b cannot overflow.
    largest = np.maximum(np.maximum(term_n, term_d), e)
    exp_n, exp_d, exp_e = np.exp(term_n - largest), np.exp(term_d - largest), np.exp(e - largest)
    total = exp_n + exp_d + exp_e
    residuals = largest + np.log(total) - log_loss
    clipped = np.clip(residuals, -delta, delta)  # the Huber derivative
    # Huber loss in one expression: r**2/2 inside [-delta, delta], delta (|r| - delta/2) outside.
    huber = clipped * (residuals - 0.5 * clipped)
    slope = clipped / total
    weight_n, weight_d = slope * exp_n, slope * exp_d
    gradient = np.array(
        [
            weight_n.sum(),
            weight_d.sum(),
            (slope * exp_e).sum(),
            -(weight_n * log_n).sum(),
            -(weight_d * log_d).sum(),
        ]
    )
    return float(huber.sum()), gradient


@dataclass(frozen=True)
class ChinchillaFit:
    """``L(N, D) = E + A / N**alpha + B / D**beta`` fitted by Hoffmann et al.'s Approach 3.

    ``loss`` is the minimised objective, the *sum* over runs of Huber losses of the log
    residuals (Hoffmann et al. 2022, section 3.3; Besiroglu et al. 2024 sum the same way).
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    loss: float
    n: int
    at_boundary: tuple[str, ...] = ()

    @property
    def boundary_note(self) -> str:
        """Words for the estimates that sit on a boundary ("" when none does)."""
        words = {
            "E": "the irreducible loss E is estimated at zero",
            "alpha": "the parameter exponent alpha is estimated at zero",
            "beta": "the data exponent beta is estimated at zero",
        }
        return "; ".join(words[name] for name in self.at_boundary)

    def predict(self, N: ArrayLike, D: ArrayLike) -> np.ndarray:
        """Predicted loss for ``N`` parameters trained on ``D`` tokens (broadcasts)."""
        n_array = np.asarray(N, dtype=float)
        d_array = np.asarray(D, dtype=float)
        return self.E + self.A * n_array**-self.alpha + self.B * d_array**-self.beta

    @property
    def a(self) -> float:
        """Exponent of ``N_opt ∝ C**a``: ``beta / (alpha + beta)``."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of ``D_opt ∝ C**b``: ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def optimal_allocation(
        self, C: ArrayLike
    ) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
        """Loss-minimising ``(N_opt, D_opt)`` for compute ``C = 6 N D`` FLOPs.

        Closed form (Hoffmann et al. 2022, section 3.3):
        ``G = (alpha A / (beta B))**(1 / (alpha + beta))``, ``N_opt = G (C/6)**a``,
        ``D_opt = (C/6)**b / G``. Returns floats for a scalar ``C``, arrays otherwise.
        """
        if not (self.alpha > 0 and self.beta > 0 and self.A > 0 and self.B > 0):
            raise ValueError(
                "optimal_allocation needs positive A, B, alpha and beta; got "
                f"A={self.A!r}, B={self.B!r}, alpha={self.alpha!r}, beta={self.beta!r}"
            )
        compute = np.asarray(C, dtype=float)
        if not np.all(np.isfinite(compute) & (compute > 0)):
            raise ValueError(f"C must be positive finite FLOPs; got {C!r}")
        g = (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))
        n_opt = g * (compute / 6) ** self.a
        d_opt = (compute / 6) ** self.b / g
        if compute.ndim == 0:
            return float(n_opt), float(d_opt)
        return n_opt, d_opt

    def as_dict(self) -> dict[str, float]:
        """``E, A, B, alpha, beta`` and the allocation exponents ``a, b`` as plain floats."""
        return {
            "E": self.E,
            "A": self.A,
            "B": self.B,
            "alpha": self.alpha,
            "beta": self.beta,
            "a": self.a,
            "b": self.b,
        }


def _grid_starts(grid: Mapping[str, Sequence[float]]) -> np.ndarray:
    missing = set(_GRID_KEYS) - set(grid)
    if missing:
        raise ValueError(
            f"init_grid must give values for {list(_GRID_KEYS)}; missing {sorted(missing)}"
        )
    return np.array(list(itertools.product(*(grid[key] for key in _GRID_KEYS))), dtype=float)


def fit_chinchilla(
    N: ArrayLike,
    D: ArrayLike,
    L: ArrayLike,
    delta: float = 1e-3,
    init_grid: Mapping[str, Sequence[float]] | None = None,
) -> ChinchillaFit:
    """Fit ``L = E + A/N**alpha + B/D**beta`` as in Hoffmann et al. (2022), Approach 3.

    Minimises ``sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i)`` with
    L-BFGS (analytic gradient, no bounds) from every point of ``init_grid`` and keeps the lowest
    objective. ``init_grid`` defaults to :data:`HOFFMANN_GRID` (4,500 starts, about a
    minute on one core for 250 points); :data:`COARSE_GRID` (432 starts) finds the same optimum
    on the Epoch data in a tenth of the time. For bootstrap replicates, a one-point grid at the
    full-data optimum (``{"a": (log A,), "b": (log B,), ...}``) is what Besiroglu et al. did.

    L-BFGS, as Hoffmann et al. used (Besiroglu et al. 2024 used BFGS; for five unbounded
    parameters they reach the same optimum here). SciPy >= 1.15's L-BFGS-B makes tiny LAPACK
    calls that multithreaded OpenBLAS slows by up to 20x (scipy/scipy#22438), so the BLAS thread
    pool is held to one thread while fitting.

    The optimiser works on the objective divided by ``delta``: the minimiser is the same, but
    with ``delta = 1e-3`` the raw objective and its gradient are so small that default
    tolerances stop the optimiser early (the failure Besiroglu et al. 2024 diagnose in the
    original fit).
    """
    n_array = _positive_array("N", N)
    d_array = _positive_array("D", D)
    l_array = _positive_array("L", L)
    n = _same_length(N=n_array, D=d_array, L=l_array)
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive finite number; got {delta!r}")
    if n < 5:
        raise ValueError(f"fit_chinchilla needs at least 5 points for 5 parameters; got {n}")
    _require_distinct("N", n_array, 2, "to identify alpha")
    _require_distinct("D", d_array, 2, "to identify beta")

    data = (np.log(n_array), np.log(d_array), np.log(l_array), delta)

    def scaled(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = chinchilla_objective(theta, *data)
        return value / delta, gradient / delta

    best_value, best_theta = np.inf, None
    with threadpool_limits(limits=1, user_api="blas"):
        for start in _grid_starts(HOFFMANN_GRID if init_grid is None else init_grid):
            result = minimize(scaled, start, jac=True, method="L-BFGS-B")
            if np.isfinite(result.fun) and result.fun < best_value:
                best_value, best_theta = result.fun, result.x
    if best_theta is None:
        raise RuntimeError("fit_chinchilla: no starting point gave a finite objective")
    a, b, e, alpha, beta = (float(v) for v in best_theta)
    E = math.exp(e)
    return ChinchillaFit(
        E=E,
        A=math.exp(a),
        B=math.exp(b),
        alpha=alpha,
        beta=beta,
        loss=float(best_value * delta),
        n=n,
        at_boundary=_boundary_estimates(E, alpha, beta, float(l_array.min())),
    )


# An estimate under 1% of its scale (E against the smallest loss seen; an exponent against 1) is
# reported as on its boundary at zero:
# L-BFGS on log E walks towards minus infinity when the data want no floor at all.
BOUNDARY_TOLERANCE = 0.01


def _boundary_estimates(E: float, alpha: float, beta: float, min_loss: float) -> tuple[str, ...]:
    flagged = []
    if E < BOUNDARY_TOLERANCE * min_loss:
        flagged.append("E")
    flagged += [
        name for name, value in (("alpha", alpha), ("beta", beta)) if value < BOUNDARY_TOLERANCE
    ]
    return tuple(flagged)


# --------------------------------------------------------------------------------------------
# Chinchilla Approach 2: the allocation exponent (slices and their minima: analysis.isoflop)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationFit:
    """``N_opt = k * C**a`` fitted by least squares on logs."""

    k: float
    a: float
    n: int
    rmse_log: float

    def predict(self, C: ArrayLike) -> np.ndarray:
        """Predicted ``N_opt`` at compute ``C``."""
        return self.k * np.asarray(C, dtype=float) ** self.a

    def as_dict(self) -> dict[str, float]:
        """``k`` and ``a`` as plain floats."""
        return {"k": self.k, "a": self.a}


def allocation_exponent(C: ArrayLike, N_opt: ArrayLike) -> AllocationFit:
    """Fit ``N_opt = k * C**a`` across compute budgets; ``a`` is the allocation exponent.

    A log-log regression via :func:`fit_power_law`, whose convention is ``x**-alpha``; the sign
    is flipped here so that a growing ``N_opt`` gives a positive ``a`` (Chinchilla: about 0.5).
    """
    power_law = fit_power_law(C, N_opt)
    return AllocationFit(
        k=power_law.A, a=-power_law.alpha, n=power_law.n, rmse_log=power_law.rmse_log
    )
