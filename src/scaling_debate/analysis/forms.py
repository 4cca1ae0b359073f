"""Which simple curve describes a handful of points? Comparing functional forms.

Used by the chapter "The log-axis emergence illusion": a plain ``y = x`` sampled at a few
log-spaced sizes looks like a sudden jump on a semilog plot. Instead of trusting the eye we fit
candidate curves and compare them with information criteria and leave-one-out cross-validation.

The registry ``FORMS`` (name -> :class:`Form`) holds:

* ``linear`` ``y = a + b·x``, ``quadratic`` and ``cubic`` (polynomials in x, coefficients
  ``a, b, c, d`` of increasing powers);
* ``logarithmic`` ``y = a + b·ln x``;
* ``exponential`` ``y = a + b·exp(c·x)``: with the offset ``a`` the curve can sit on a
  baseline, which ``a·exp(b·x)`` cannot. ``|c|·max(x)`` is kept within [0.05, 60]: below it the
  curve is a straight line over the data (left to ``linear``), above it y would span more than
  26 decades;
* ``power`` ``y = a·x^b + c`` with ``|b| <= 8``: the offset is the irreducible level of scaling
  laws. With ``b = 1`` it contains the linear form, so on exactly linear data the linear form
  wins the tie by having fewer parameters;
* ``logistic`` ``y = lo + (hi - lo) / (1 + exp(-(ln x - m) / w))``, a sigmoid in ln x with
  midpoint ``m`` and width ``w > 0`` in ln x: the shape people call emergence. ``m`` is kept
  within the sampled range of ln x widened by its span on each side, ``w`` between 1e-4 and 10
  spans; ``hi < lo`` is a falling curve.

Conventions used throughout:

* Logarithms are natural.
* Every form is fitted on ``u = x / max(x)``, so polynomial columns and ``exp(c*u)`` stay of
  order one whatever the units of ``x`` (sizes of 1e8 to 1e11 would otherwise make the cubic's
  design matrix numerically singular). The fitted parameters are converted back, so **every
  reported parameter is in the units of the original x and y**: ``model(x, *params)`` is the
  fitted curve.
* Forms that are linear in their parameters are solved exactly by least squares. The others
  have the shape ``intercept + slope * feature(x; g)`` with one or two nonlinear parameters
  ``g``: for each ``g`` on a small grid the intercept and slope are solved exactly (variable
  projection), and the best grid point seeds a bounded polish of ``g`` (Brent's method for one
  nonlinear parameter, trust-region least squares for two). No fit hangs on one fragile
  starting guess.
* Fits that fail (too few points, no convergence, overflow) are reported, never raised.

**Which form wins.** :func:`compare_forms` ranks by the small-sample criterion AICc by default
(Burnham & Anderson recommend it whenever n/k < 40; with eight model sizes and up to five
parameters n/k is below 2) and applies one rule to near-ties: among the forms whose criterion lies
within ``tie_margin`` (2 units by default, Burnham & Anderson's "substantial support") of the
best, the one with the fewest parameters wins, so a form that merely contains the winner (a
quadratic with a tiny curvature, a power law with exponent near one) does not beat it by noise.
Accuracies measured on ``n_problems`` test problems are weighted by their binomial variance
(:func:`binomial_sigma`, floored so that 0/n and n/n still carry an uncertainty).
"""

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special

from scaling_debate.analysis.uncertainty import wilson_interval

__all__ = [
    "CRITERIA",
    "DEFAULT_TIE_MARGIN",
    "FORMS",
    "Form",
    "FormFit",
    "LinearForm",
    "SeparableForm",
    "binomial_sigma",
    "compare_forms",
    "fit_form",
    "form_recovery_rate",
    "form_separation",
    "recovery_table",
]

CRITERIA = ("aic", "aicc", "bic", "cv_rmse")
# Information criteria (not cv_rmse, which is in y units) treat forms within this many units of
# the best as tied; the tie goes to the fewest parameters.
DEFAULT_TIE_MARGIN = 2.0

# Residuals smaller than this fraction of max|y| are below what the fits resolve in floating
# point; flooring the RSS there makes exact fits (y = x without noise) tie, and the tie then
# goes to the form with fewer parameters instead of to rounding noise.
_RELATIVE_RESOLUTION = 1e-9

# The three best grid points are each polished and the lowest RSS kept: a multi-start guard
# against a polish that stalls in a shallow valley (bounded steps, so no start can run away).
_POLISHED_STARTS = 3
# Evaluations allowed to one polish: a step between two sampled sizes drives the logistic's width
# towards its lower bound along a valley that the default budget (100 per parameter) can exhaust.
_MAX_EVALUATIONS = 2000
# Starting values offered to readers by Form.initial_guesses.
_OFFERED_STARTS = 3


# --------------------------------------------------------------------------------------------
# Forms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """A candidate functional form ``y = model(x, *params)``.

    ``rescale(theta, scale)`` converts parameters fitted on ``x / scale`` into parameters on
    ``x``, so that ``model(x, *rescale(theta, s)) == model(x / s, *theta)``.
    """

    name: str
    formula: str
    param_names: tuple[str, ...]
    model: Callable[..., np.ndarray]
    rescale: Callable[[np.ndarray, float], np.ndarray]

    @property
    def n_params(self) -> int:
        """Number of fitted curve parameters (the noise variance not counted)."""
        return len(self.param_names)

    def initial_guesses(self, x: ArrayLike, y: ArrayLike) -> list[np.ndarray]:
        """Starting values from the data, best first, in the units of the original x.

        Linear forms return their exact least-squares solution; the others return the best
        points of a grid over their nonlinear parameters.
        """
        x_array, y_array, _ = _validate_data(x, y, None)
        scale = _x_scale(x_array)
        starts = self._scaled_starts(x_array / scale, y_array, np.ones_like(y_array))
        return [self.rescale(theta, scale) for theta in starts]

    def _scaled_starts(self, u: np.ndarray, y: np.ndarray, omega: np.ndarray) -> list[np.ndarray]:
        """Starting values on ``u = x / scale``, best first."""
        raise NotImplementedError

    def _fit_scaled(
        self, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> tuple[np.ndarray, bool, str]:
        """Fit on ``u = x / scale`` with weights ``omega``: (theta, converged, message)."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinearForm(Form):
    """A form linear in its parameters: ``y = basis(x) @ params``, solved exactly."""

    basis: Callable[[np.ndarray], np.ndarray]

    def _scaled_starts(self, u: np.ndarray, y: np.ndarray, omega: np.ndarray) -> list[np.ndarray]:
        theta, converged, _ = self._fit_scaled(u, y, omega)
        return [theta] if converged else []

    def _fit_scaled(
        self, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> tuple[np.ndarray, bool, str]:
        root_omega = np.sqrt(omega)
        design = self.basis(u) * root_omega[:, None]
        # Unit-norm columns keep the SVD's rank decision independent of the columns' units.
        norms = np.linalg.norm(design, axis=0)
        if not np.all(norms > 0):
            return np.full(self.n_params, np.nan), False, "a design-matrix column is all zero"
        coefs, _, rank, _ = np.linalg.lstsq(design / norms, y * root_omega, rcond=None)
        if rank < self.n_params:
            message = f"design matrix has rank {rank} < {self.n_params} parameters"
            return np.full(self.n_params, np.nan), False, message
        return coefs / norms, True, ""


@dataclass(frozen=True)
class _Polished:
    """Outcome of polishing the nonlinear parameters from one start."""

    g: np.ndarray
    rss: float
    success: bool
    message: str
    note: str = ""

    def rss_key(self) -> float:
        return self.rss if math.isfinite(self.rss) else math.inf


@dataclass(frozen=True)
class SeparableForm(Form):
    """A form ``y = alpha + beta * feature(x; g)`` with nonlinear parameters ``g``.

    ``feature(u, *g)`` must broadcast (the grid search passes column vectors of ``g``);
    ``grid(u)`` gives candidate rows of ``g`` and ``bounds(u, start)`` the limits of the polish
    that begins at the grid point ``start``;
    ``assemble(alpha, beta, g)`` orders the parameters as in ``param_names``;
    ``feature_gradient(u, *g)`` (optional; rows d feature / d g_j) speeds up forms with more
    than one nonlinear parameter, which are polished by least squares (one is polished by
    Brent's method, which needs no derivative).
    """

    feature: Callable[..., np.ndarray]
    grid: Callable[[np.ndarray], np.ndarray]
    bounds: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    assemble: Callable[[float, float, np.ndarray], np.ndarray]
    feature_gradient: Callable[..., np.ndarray] | None = None

    def _grid_rss(
        self, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        candidates = self.grid(u)
        columns = (candidates[:, [j]] for j in range(candidates.shape[1]))
        _, _, residuals = _intercept_slope_fit(self.feature(u[None, :], *columns), y, omega)
        rss = _weighted_rss(residuals, omega)
        return candidates, np.where(np.isfinite(rss), rss, np.inf)

    def _best_grid_points(
        self, u: np.ndarray, y: np.ndarray, omega: np.ndarray, count: int
    ) -> list[np.ndarray]:
        candidates, rss = self._grid_rss(u, y, omega)
        order = np.argsort(rss, kind="stable")[:count]
        return [candidates[i] for i in order if np.isfinite(rss[i])]

    def _scaled_starts(self, u: np.ndarray, y: np.ndarray, omega: np.ndarray) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            starts = self._best_grid_points(u, y, omega, _OFFERED_STARTS)
            return [self._with_linear_part(g, u, y, omega) for g in starts]

    def _with_linear_part(
        self, g: np.ndarray, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> np.ndarray:
        alpha, beta, _ = _intercept_slope_fit(self.feature(u, *g), y, omega)
        return self.assemble(float(alpha), float(beta), g)

    def _projected_residuals(
        self, g: np.ndarray, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> np.ndarray:
        _, _, residuals = _intercept_slope_fit(self.feature(u, *g), y, omega)
        return np.sqrt(omega) * residuals

    def _projected_jacobian(
        self, g: np.ndarray, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> np.ndarray:
        # Kaufman's approximation (Golub & Pereyra 2003, Inverse Problems 19, R1): the
        # derivative of the residuals is -(I - P)·beta·d feature/dg, with P the projection
        # onto the intercept and the feature.
        feature = self.feature(u, *g)
        _, beta, _ = _intercept_slope_fit(feature, y, omega)
        directions = beta * self.feature_gradient(u, *g)
        _, _, projected = _intercept_slope_fit(feature, directions, omega)
        return -(np.sqrt(omega) * projected).T

    def _polish_scalar(
        self, start: np.ndarray, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> _Polished:
        """Brent's method within the grid cells on either side of ``start`` (and the bounds)."""
        lower, upper = self.bounds(u, start)
        grid = np.unique(self.grid(u)[:, 0])
        i = int(np.searchsorted(grid, start[0]))
        low = max(grid[i - 1] if i > 0 else -np.inf, lower[0])
        high = min(grid[i + 1] if i + 1 < len(grid) else np.inf, upper[0])
        result = optimize.minimize_scalar(
            lambda g: float(np.sum(self._projected_residuals(np.array([g]), u, y, omega) ** 2)),
            bounds=(low, high),
            method="bounded",
            options={"xatol": 1e-10},
        )
        return _Polished(
            np.array([result.x]), float(result.fun), bool(result.success), str(result.message)
        )

    def _polish_vector(
        self, start: np.ndarray, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> _Polished:
        """Bounded trust-region least squares from ``start``."""
        lower, upper = self.bounds(u, start)
        result = optimize.least_squares(
            self._projected_residuals,
            np.clip(start, lower, upper),
            jac=self._projected_jacobian if self.feature_gradient else "2-point",
            bounds=(lower, upper),
            args=(u, y, omega),
            max_nfev=_MAX_EVALUATIONS,
        )
        rss = 2 * float(result.cost)
        if result.status == 0 and math.isfinite(rss):
            # the evaluation budget ran out inside the bounds: the best point found is a valid
            # fit whose RSS can only overstate the form's best, so it is kept and said so
            note = "the polish stopped at its evaluation limit; the best point found is used"
            return _Polished(result.x, rss, True, result.message, note)
        return _Polished(result.x, rss, bool(result.success), result.message)

    def _fit_scaled(
        self, u: np.ndarray, y: np.ndarray, omega: np.ndarray
    ) -> tuple[np.ndarray, bool, str]:
        failed = np.full(self.n_params, np.nan)
        # Overflow in a trial step only makes that step bad; the optimisers step back.
        with np.errstate(all="ignore"):
            starts = self._best_grid_points(u, y, omega, _POLISHED_STARTS)
            if not starts:
                return failed, False, "no grid point gave a finite fit"
            polish = self._polish_scalar if len(starts[0]) == 1 else self._polish_vector
            try:
                best = min((polish(start, u, y, omega) for start in starts), key=_Polished.rss_key)
            except (ValueError, np.linalg.LinAlgError) as error:
                return failed, False, f"the fit failed: {error}"
            theta = self._with_linear_part(best.g, u, y, omega)
        if not (np.all(np.isfinite(theta)) and math.isfinite(best.rss)):
            return theta, False, "the fit overflowed (non-finite parameters)"
        if not best.success:
            return theta, False, f"the optimiser did not converge: {best.message}"
        return theta, True, best.note


def _intercept_slope_fit(
    features: np.ndarray, y: np.ndarray, omega: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares of ``y ~ alpha + beta * features`` along the last axis.

    ``features`` and ``y`` broadcast against each other over any leading axes (many features
    for one y in a grid search, one feature for many y in a Jacobian). Returns (alpha, beta,
    residuals); a feature that is constant over the points gets ``beta = 0``.
    """
    total = omega.sum()
    feature_mean = (features @ omega) / total
    y_mean = (y @ omega) / total
    centred = features - feature_mean[..., None]
    y_centred = y - y_mean[..., None]
    sxx = centred**2 @ omega
    sxy = (centred * y_centred) @ omega
    identifiable = sxx > 1e-24 * (features**2 @ omega)
    beta = np.divide(sxy, sxx, out=np.zeros(np.shape(sxy)), where=identifiable)
    alpha = y_mean - beta * feature_mean
    return alpha, beta, y_centred - beta[..., None] * centred


def _weighted_rss(residuals: np.ndarray, omega: np.ndarray) -> np.ndarray:
    return residuals**2 @ omega


def _x_scale(x: np.ndarray) -> float:
    return float(np.max(x))


def _polynomial(x: np.ndarray, *coefs: float) -> np.ndarray:
    return np.polynomial.polynomial.polyval(x, np.asarray(coefs, dtype=float))


def _rescale_polynomial(theta: np.ndarray, scale: float) -> np.ndarray:
    # c_k * (x / s)**k == (c_k / s**k) * x**k
    return np.asarray(theta, dtype=float) / scale ** np.arange(len(theta))


def _polynomial_form(name: str, degree: int, formula: str) -> LinearForm:
    def vandermonde(u: np.ndarray) -> np.ndarray:
        return np.vander(u, degree + 1, increasing=True)

    return LinearForm(
        name=name,
        formula=formula,
        param_names=tuple("abcd"[: degree + 1]),
        model=_polynomial,
        rescale=_rescale_polynomial,
        basis=vandermonde,
    )


def _logarithmic(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + b * np.log(x)


def _exponential(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a + b * np.exp(c * x)


def _power(x: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * x**b + c


def _logistic(x: np.ndarray, lo: float, hi: float, m: float, w: float) -> np.ndarray:
    return lo + (hi - lo) * special.expit((np.log(x) - m) / w)


def _logistic_feature(u: np.ndarray, m: np.ndarray, log_w: np.ndarray) -> np.ndarray:
    # The width is polished on a log scale: it stays positive and its scale spans decades.
    return special.expit((np.log(u) - m) * np.exp(-log_w))


def _logistic_feature_gradient(u: np.ndarray, m: float, log_w: float) -> np.ndarray:
    z = (np.log(u) - m) * math.exp(-log_w)
    slope = special.expit(z) * special.expit(-z)
    return np.stack([-slope * math.exp(-log_w), -slope * z])


def _logistic_grid(u: np.ndarray) -> np.ndarray:
    ln_u = np.unique(np.log(u))
    span = ln_u[-1] - ln_u[0]
    # Midpoints at the sampled sizes and halfway between them, so a step between two adjacent
    # sizes is on the grid too.
    midpoints = np.concatenate([ln_u, (ln_u[1:] + ln_u[:-1]) / 2])
    log_widths = np.log(span * np.array([0.01, 0.03, 0.1, 0.3, 1.0]))
    return np.array([(m, log_w) for m in midpoints for log_w in log_widths])


def _logistic_bounds(u: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ln_u = np.log(u)
    low, high = ln_u.min(), ln_u.max()
    span = high - low
    return (
        np.array([low - span, math.log(span * 1e-4)]),
        np.array([high + span, math.log(span * 10)]),
    )


def _exponential_bounds(u: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # As c -> 0 the exponential turns into a straight line with b -> inf and a -> -b, which
    # a + b·exp(c x) cannot represent without cancelling every digit. So |c|·max(x) stays at or
    # above _SMALLEST_RATE (curvature of a few per cent over the data: a straight line, left to
    # the linear form), and each sign of c is polished within its own half.
    if start[0] > 0:
        return np.array([_SMALLEST_RATE]), np.array([_LARGEST_RATE])
    return np.array([-_LARGEST_RATE]), np.array([-_SMALLEST_RATE])


_EXPONENT_GRID = np.array(
    [-3, -2, -1.5, -1, -0.7, -0.5, -0.3, -0.15, -0.05, 0.05, 0.15, 0.3, 0.5, 0.7, 1, 1.5, 2, 3]
)[:, None]
_SMALLEST_RATE, _LARGEST_RATE = 0.05, 60.0
_RATE_GRID = np.concatenate([-np.geomspace(0.1, 40, 9), np.geomspace(0.1, 40, 9)])[:, None]

FORMS: dict[str, Form] = {
    "linear": _polynomial_form("linear", 1, "y = a + b·x"),
    "logarithmic": LinearForm(
        name="logarithmic",
        formula="y = a + b·ln x",
        param_names=("a", "b"),
        model=_logarithmic,
        # a' + b ln(x / s) == (a' - b ln s) + b ln x
        rescale=lambda theta, s: np.array([theta[0] - theta[1] * math.log(s), theta[1]]),
        basis=lambda u: np.column_stack([np.ones_like(u), np.log(u)]),
    ),
    "quadratic": _polynomial_form("quadratic", 2, "y = a + b·x + c·x²"),
    "cubic": _polynomial_form("cubic", 3, "y = a + b·x + c·x² + d·x³"),
    "exponential": SeparableForm(
        name="exponential",
        formula="y = a + b·exp(c·x)",
        param_names=("a", "b", "c"),
        model=_exponential,
        rescale=lambda theta, s: np.array([theta[0], theta[1], theta[2] / s]),
        feature=lambda u, c: np.exp(c * u),
        grid=lambda u: _RATE_GRID,
        bounds=_exponential_bounds,
        assemble=lambda alpha, beta, g: np.array([alpha, beta, g[0]]),
    ),
    "power": SeparableForm(
        name="power",
        formula="y = a·x^b + c",
        param_names=("a", "b", "c"),
        model=_power,
        rescale=lambda theta, s: np.array([theta[0] / s ** theta[1], theta[1], theta[2]]),
        feature=lambda u, b: u**b,
        grid=lambda u: _EXPONENT_GRID,
        bounds=lambda u, start: (np.array([-8.0]), np.array([8.0])),
        assemble=lambda alpha, beta, g: np.array([beta, g[0], alpha]),
    ),
    "logistic": SeparableForm(
        name="logistic",
        formula="y = lo + (hi - lo) / (1 + exp(-(ln x - m) / w))",
        param_names=("lo", "hi", "m", "w"),
        model=_logistic,
        rescale=lambda theta, s: np.array([theta[0], theta[1], theta[2] + math.log(s), theta[3]]),
        feature=_logistic_feature,
        feature_gradient=_logistic_feature_gradient,
        grid=_logistic_grid,
        bounds=_logistic_bounds,
        assemble=lambda alpha, beta, g: np.array([alpha, alpha + beta, g[0], math.exp(g[1])]),
    ),
}


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _validate_data(
    x: ArrayLike, y: ArrayLike, sigma: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return x, y (and sigma broadcast to x's length) as float arrays, or raise ValueError."""
    x_array = np.asarray(x, dtype=float)
    y_array = np.asarray(y, dtype=float)
    for name, array in (("x", x_array), ("y", y_array)):
        if array.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional; got shape {array.shape}")
        _require_finite(name, array)
    if len(x_array) != len(y_array):
        raise ValueError(
            f"x and y must have the same length; got {len(x_array)} and {len(y_array)}"
        )
    if len(x_array) < 2:
        raise ValueError(f"need at least 2 points; got {len(x_array)}")
    _require_positive("x", x_array, "(the logarithmic, power and logistic forms take ln x or x^b)")
    if sigma is None:
        return x_array, y_array, None
    try:
        sigma_array = np.broadcast_to(np.asarray(sigma, dtype=float), x_array.shape).copy()
    except ValueError:
        raise ValueError(
            f"sigma must be a scalar or have one value per point ({len(x_array)}); "
            f"got shape {np.shape(sigma)}"
        ) from None
    _require_finite("sigma", sigma_array)
    _require_positive("sigma", sigma_array, "(it is the standard deviation of each y)")
    return x_array, y_array, sigma_array


def _require_finite(name: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite; got {name}[{index}] = {float(array[index])!r}")


def _require_positive(name: str, array: np.ndarray, why: str) -> None:
    bad = array <= 0
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be positive {why}; got {name}[{index}] = {float(array[index])!r}"
        )


def _resolve_form_names(forms: str | Iterable[str] | None) -> list[str]:
    """The requested form names in order, or every registered form; unknown names raise."""
    if forms is None:
        return list(FORMS)
    names = [forms] if isinstance(forms, str) else list(forms)
    unknown = [name for name in names if name not in FORMS]
    if unknown:
        raise ValueError(f"unknown form(s) {unknown}; allowed: {sorted(FORMS)}")
    if not names:
        raise ValueError(f"forms must name at least one form; allowed: {sorted(FORMS)}")
    return list(dict.fromkeys(names))


def _check_criterion(criterion: str) -> None:
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {list(CRITERIA)}; got {criterion!r}")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level!r}")


def binomial_sigma(
    accuracy: ArrayLike, n_problems: int | ArrayLike, level: float = 0.95
) -> np.ndarray:
    """Standard deviation of accuracies measured on ``n_problems`` test problems each.

    ``sqrt(p(1 - p) / n)`` with ``p`` kept at least the upper end of the Wilson interval for 0
    successes in ``n`` (at ``level``) away from 0 and 1: a model that got no problem right is not
    known to have accuracy exactly 0, so its point still carries an uncertainty (Schaeffer et
    al.'s resolution argument) and never receives an infinite weight.
    """
    _check_level(level)
    p = np.asarray(accuracy, dtype=float)
    n = np.broadcast_to(np.asarray(n_problems, dtype=float), p.shape)
    if np.any(~np.isfinite(p) | (p < 0) | (p > 1)):
        raise ValueError(f"accuracy must be fractions in [0, 1]; got {accuracy!r}")
    if np.any(~np.isfinite(n) | (n < 1) | (n != np.round(n))):
        raise ValueError(f"n_problems must be whole numbers >= 1; got {n_problems!r}")
    z2 = special.ndtri(0.5 + level / 2) ** 2
    floor = z2 / (n + z2)  # Wilson upper bound for 0 successes in n
    p = np.clip(p, floor, 1 - floor)
    return np.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------------------------
# Fitting one form
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormFit:
    """One fitted form. ``params`` are in the units of the original x and y.

    ``rss`` is the plain residual sum of squares; ``chi2`` is the weighted one,
    sum(((y - fit) / sigma)**2), and equals ``rss`` when no sigma was given.
    """

    form: str
    params: dict[str, float]
    rss: float
    converged: bool
    message: str
    chi2: float
    n_points: int

    def predict(self, x: ArrayLike) -> np.ndarray:
        """The fitted curve at ``x`` (positive values)."""
        x_array = np.atleast_1d(np.asarray(x, dtype=float))
        _require_finite("x", x_array)
        _require_positive("x", x_array, "(the forms are defined for x > 0)")
        form = FORMS[self.form]
        with np.errstate(all="ignore"):
            return form.model(x_array, *(self.params[name] for name in form.param_names))


def _not_fitted(form: Form, n_points: int, message: str) -> FormFit:
    nan_params = dict.fromkeys(form.param_names, math.nan)
    return FormFit(form.name, nan_params, math.nan, False, message, math.nan, n_points)


def _fit(form: Form, x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None) -> FormFit:
    """Fit validated data; too few points or a failed optimisation give converged=False."""
    n_points = len(x)
    if form.n_params > n_points:
        return _not_fitted(
            form, n_points, f"{form.n_params} parameters need at least {form.n_params} points"
        )
    distinct = len(np.unique(x))
    if distinct < form.n_params:
        message = f"{form.n_params} parameters need {form.n_params} distinct x; got {distinct}"
        return _not_fitted(form, n_points, message)
    omega = np.ones_like(y) if sigma is None else sigma**-2.0
    scale = _x_scale(x)
    theta, converged, message = form._fit_scaled(x / scale, y, omega)
    params = form.rescale(theta, scale)
    with np.errstate(all="ignore"):
        residuals = y - form.model(x, *params)
    rss = float(np.sum(residuals**2))
    chi2 = float(np.sum(omega * residuals**2))
    if converged and not math.isfinite(rss):
        converged, message = False, "the fitted curve overflows at the data"
    named = {name: float(value) for name, value in zip(form.param_names, params, strict=True)}
    return FormFit(form.name, named, rss, converged, message, chi2, n_points)


def fit_form(name: str, x: ArrayLike, y: ArrayLike, sigma: ArrayLike | None = None) -> FormFit:
    """Fit the registered form ``name`` to (x, y) by (weighted) least squares.

    ``sigma`` (a scalar or one value per point) weights each squared residual by 1/sigma².
    Too few points or a failed fit give ``converged=False`` with a ``message``; an unknown
    name or bad data raise ValueError.
    """
    [name] = _resolve_form_names([name])
    x_array, y_array, sigma_array = _validate_data(x, y, sigma)
    return _fit(FORMS[name], x_array, y_array, sigma_array)


# --------------------------------------------------------------------------------------------
# Comparing forms
# --------------------------------------------------------------------------------------------

_COLUMNS = [
    "form",
    "formula",
    "n_params",
    "rss",
    "aic",
    "aicc",
    "delta_aicc",
    "bic",
    "delta_bic",
    "cv_rmse",
    "converged",
    "message",
    "params",
]


def _information_criteria(
    fit: FormFit, n_params: int, y: np.ndarray, sigma: np.ndarray | None
) -> dict[str, float]:
    """AIC, AICc and BIC from the Gaussian likelihood (formulas in :func:`compare_forms`)."""
    n = fit.n_points
    if sigma is None:
        rss_floor = n * (_RELATIVE_RESOLUTION * float(np.max(np.abs(y)))) ** 2
        rss = max(fit.rss, rss_floor, np.finfo(float).tiny)
        minus_two_log_likelihood = n * (math.log(2 * math.pi * rss / n) + 1)
        k = n_params + 1  # the noise variance is estimated too
    else:
        minus_two_log_likelihood = fit.chi2 + float(np.sum(np.log(2 * math.pi * sigma**2)))
        k = n_params
    aic = minus_two_log_likelihood + 2 * k
    aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n > k + 1 else math.nan
    bic = minus_two_log_likelihood + k * math.log(n)
    return {"aic": aic, "aicc": aicc, "bic": bic}


def _loo_rmse(form: Form, x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None) -> float:
    """Leave-one-out RMSE (in y units): refit without each point, predict it."""
    errors = np.empty(len(x))
    for left_out in range(len(x)):
        keep = np.arange(len(x)) != left_out
        fold = _fit(form, x[keep], y[keep], None if sigma is None else sigma[keep])
        if not fold.converged:
            return math.nan
        errors[left_out] = fold.predict(x[left_out])[0] - y[left_out]
    with np.errstate(over="ignore"):
        return float(np.sqrt(np.mean(errors**2)))


def _comparison_row(
    form: Form, x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None, cv: bool
) -> dict[str, object]:
    n = len(x)
    if form.n_params > n - 1:
        fit = _not_fitted(
            form,
            n,
            f"not fitted: {form.n_params} parameters need at least {form.n_params + 1} points "
            f"(one left to estimate the noise); got {n}",
        )
    else:
        fit = _fit(form, x, y, sigma)
    row: dict[str, object] = {
        "form": form.name,
        "formula": form.formula,
        "n_params": form.n_params,
        "rss": fit.rss,
        "aic": math.nan,
        "aicc": math.nan,
        "bic": math.nan,
        "cv_rmse": math.nan,
        "converged": fit.converged,
        "message": fit.message,
        "params": fit.params,
    }
    if fit.converged:
        row.update(_information_criteria(fit, form.n_params, y, sigma))
        if math.isnan(row["aicc"]):
            k = form.n_params + (sigma is None)
            row["message"] = (
                f"AICc undefined: {n} points leave no degrees of freedom for its correction "
                f"(needs more than k + 1 = {k + 1})"
            )
        if cv:
            row["cv_rmse"] = _loo_rmse(form, x, y, sigma)
            if math.isnan(row["cv_rmse"]) and not row["message"]:
                row["message"] = "leave-one-out CV undefined: a refit without one point failed"
    return row


def _ranking(
    rows: Sequence[Mapping[str, object]], criterion: str, tie_margin: float = 0.0
) -> np.ndarray:
    """Row order under the near-tie rule; forms with a NaN criterion come last.

    Forms whose criterion is within ``tie_margin`` of the best come first, fewest parameters
    first (then by the criterion); the rest follow by the criterion. Remaining ties go to fewer
    parameters, then to registry order.
    """
    values = np.array([row[criterion] for row in rows], dtype=float)
    n_params = np.array([row["n_params"] for row in rows])
    missing = np.isnan(values)
    filled = np.where(missing, np.inf, values)
    best = filled.min() if len(rows) else np.inf
    tied = ~missing & (filled <= best + tie_margin)
    return np.lexsort(
        (np.arange(len(rows)), n_params, filled, np.where(tied, n_params, 0), ~tied, missing)
    )


def _comparison_rows(
    x: np.ndarray, y: np.ndarray, names: Sequence[str], sigma: np.ndarray | None, cv: bool
) -> list[dict[str, object]]:
    return [_comparison_row(FORMS[name], x, y, sigma, cv) for name in names]


def compare_forms(
    x: ArrayLike,
    y: ArrayLike,
    forms: str | Iterable[str] | None = None,
    sigma: ArrayLike | None = None,
    *,
    cv: bool = True,
    sort_by: str = "aicc",
    n_problems: int | ArrayLike | None = None,
    tie_margin: float = DEFAULT_TIE_MARGIN,
) -> pd.DataFrame:
    """Fit each candidate form to (x, y) and rank them, best first.

    Columns: ``form``, ``formula``, ``n_params`` (curve parameters), ``rss``, ``aic``,
    ``delta_aic`` (AIC minus the smallest AIC), ``aicc``, ``delta_aicc``, ``bic``,
    ``delta_bic``, ``cv_rmse``, ``converged``, ``message`` (why a fit failed or a criterion is
    undefined; empty otherwise) and ``params`` (a dict name -> value in the units of the
    original x and y).

    ``n_problems`` says that y are accuracies (fractions) measured on that many test problems
    (a number or one per point): the fit and the likelihood then use
    ``sigma = binomial_sigma(y, n_problems)``. It cannot be combined with ``sigma``.

    Criteria, from the maximised Gaussian log-likelihood ``log L`` with n points:

    * ``sigma=None`` (noise level unknown, estimated as RSS/n, so it counts as a parameter):
      ``-2 log L = n·(ln(2π·RSS/n) + 1)`` and ``k = n_params + 1``. An RSS below
      ``n·(1e-9·max|y|)²`` is floored there: exact fits tie instead of ranking by rounding noise.
    * ``sigma`` given (a scalar or one per point; the fit is weighted by 1/sigma²):
      ``-2 log L = chi² + Σ ln(2π·sigma²)`` and ``k = n_params``.
    * ``AIC = -2 log L + 2k``; ``BIC = -2 log L + k·ln n``;
      ``AICc = AIC + 2k(k+1)/(n-k-1)``, undefined (NaN) when ``n <= k + 1``.

    ``cv_rmse`` is the leave-one-out RMSE in y units (unweighted): each point is left out in
    turn, the form refitted to the rest and the point predicted; NaN if any refit fails.
    ``cv=False`` skips it (it costs n refits per form).

    Rows are sorted by ``sort_by`` (one of ``CRITERIA``; AICc by default) under the near-tie
    rule: the forms within ``tie_margin`` of the best criterion come first, fewest parameters
    first, so the first row is the selected form; the others follow by the criterion. The
    margin applies to the information criteria only (``cv_rmse`` is in y units: exact ties
    only); ``tie_margin=0`` ranks by the criterion alone. Forms that were not fitted, failed, or
    whose criterion is undefined have NaN there, come last and say why in ``message``. A form
    with more parameters than points minus one is reported as not fitted; a failed fit is
    reported with ``converged=False``; neither raises. ``forms`` is a list of names from
    ``FORMS`` (all by default); an unknown name raises ValueError. x must be positive.

    No rule can put a true form first where a rival draws the same curve through the sampled x
    (a quadratic without a linear term is a power law with exponent two): :func:`form_separation`
    measures how far apart they are, and the tests check that the true form is selected on
    binomial accuracies at GPT-3-like sizes wherever that separation is a few units or more.
    """
    names = _resolve_form_names(forms)
    _check_criterion(sort_by)
    if sort_by == "cv_rmse" and not cv:
        raise ValueError("sort_by='cv_rmse' needs cv=True")
    margin = _check_tie_margin(tie_margin, sort_by)
    x_array, y_array, sigma_array = _validate_data(x, y, sigma)
    if n_problems is not None:
        if sigma is not None:
            raise ValueError("give sigma or n_problems, not both")
        sigma_array = np.broadcast_to(binomial_sigma(y_array, n_problems), y_array.shape).copy()
    rows = _comparison_rows(x_array, y_array, names, sigma_array, cv)
    table = pd.DataFrame([rows[i] for i in _ranking(rows, sort_by, margin)], columns=_COLUMNS)
    for criterion in ("aicc", "bic"):
        table[f"delta_{criterion}"] = table[criterion] - table[criterion].min()
    table.insert(table.columns.get_loc("aic") + 1, "delta_aic", table["aic"] - table["aic"].min())
    return table


def _check_tie_margin(tie_margin: float, criterion: str) -> float:
    if not (isinstance(tie_margin, int | float) and math.isfinite(tie_margin) and tie_margin >= 0):
        raise ValueError(f"tie_margin must be a finite number >= 0; got {tie_margin!r}")
    return 0.0 if criterion == "cv_rmse" else float(tie_margin)


# --------------------------------------------------------------------------------------------
# Can the true form be recovered? Simulation for the chapter
# --------------------------------------------------------------------------------------------


def form_separation(
    true_form: str,
    x: ArrayLike,
    y_true: ArrayLike,
    sigma: ArrayLike,
    forms: Iterable[str] | None = None,
) -> float:
    """How far the noise-free curve ``y_true`` is from every rival of no more parameters.

    The smallest weighted chi-square, ``sum(((y_true - rival) / sigma)**2)``, with which a form
    of ``forms`` other than ``true_form`` and with at most as many parameters fits ``y_true``.
    It is the expected gain in chi-square of the true form over its closest rival: when it is
    near zero, a rival draws the same curve through the sampled sizes and no criterion can tell
    them apart; the true form wins reliably only when it exceeds the criterion's extra penalty
    for the true form's parameters by several units. Rivals whose fit fails are skipped; with no
    rival left the separation is infinite.
    """
    [true_form] = _resolve_form_names([true_form])
    names = _resolve_form_names(forms)
    x_array, y_array, sigma_array = _validate_data(x, y_true, sigma)
    limit = FORMS[true_form].n_params
    distances = [
        fit.chi2
        for name in names
        if name != true_form and FORMS[name].n_params <= limit
        for fit in [_fit(FORMS[name], x_array, y_array, sigma_array)]
        if fit.converged
    ]
    return float(min(distances, default=math.inf))


def _simulation_design(
    true_form: str,
    true_params: Mapping[str, float],
    n_points: int,
    noise_sd: float,
    x_range: tuple[float, float],
    n_trials: int,
    n_problems: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a simulation's settings; return its log-spaced x and the true curve there."""
    [true_form] = _resolve_form_names([true_form])
    form = FORMS[true_form]
    if set(true_params) != set(form.param_names):
        raise ValueError(
            f"true_params for {true_form!r} must have exactly the keys {list(form.param_names)}; "
            f"got {sorted(true_params)}"
        )
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2; got {n_points!r}")
    if int(n_trials) != n_trials or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
    if not (math.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be finite and >= 0; got {noise_sd!r}")
    if n_problems is not None and (
        isinstance(n_problems, bool) or int(n_problems) != n_problems or n_problems < 1
    ):
        raise ValueError(f"n_problems must be a positive integer or None; got {n_problems!r}")
    low, high = x_range
    if not (0 < low < high < math.inf):
        raise ValueError(f"x_range must be (low, high) with 0 < low < high; got {x_range!r}")
    x = np.geomspace(low, high, int(n_points))
    with np.errstate(all="ignore"):
        y_true = form.model(x, *(float(true_params[name]) for name in form.param_names))
    _require_finite("the true curve", y_true)
    if n_problems is not None and np.any((y_true < 0) | (y_true > 1)):
        raise ValueError("with n_problems the true curve must be an accuracy in [0, 1]")
    return x, y_true


def _winners(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    criteria: Sequence[str],
    sigma: np.ndarray | None,
    tie_margin: float,
) -> dict[str, str | None]:
    """The selected form's name under each criterion, or None where no form has a finite one."""
    rows = _comparison_rows(x, y, names, sigma, cv="cv_rmse" in criteria)
    winners: dict[str, str | None] = {}
    for criterion in criteria:
        best = rows[_ranking(rows, criterion, _check_tie_margin(tie_margin, criterion))[0]]
        finite = math.isfinite(float(best[criterion]))
        winners[criterion] = str(best["form"]) if finite else None
    return winners


def _recovery_wins(
    true_form: str,
    true_params: Mapping[str, float],
    n_points: int,
    noise_sd: float,
    x_range: tuple[float, float],
    n_trials: int,
    seed: int,
    names: Sequence[str],
    criteria: Sequence[str],
    tie_margin: float,
    n_problems: int | None,
) -> dict[str, int]:
    """How many of ``n_trials`` simulated data sets select ``true_form``, per criterion."""
    if true_form not in names:
        raise ValueError(f"true_form {true_form!r} must be among the compared forms {names}")
    x, y_true = _simulation_design(
        true_form, true_params, n_points, noise_sd, x_range, n_trials, n_problems
    )
    rng = np.random.default_rng(seed)
    wins = dict.fromkeys(criteria, 0)
    for _ in range(int(n_trials)):
        if n_problems is None:
            y, sigma = y_true + rng.normal(0.0, noise_sd, size=len(x)), None
        else:
            y = rng.binomial(n_problems, y_true) / n_problems
            sigma = binomial_sigma(y, n_problems)
        for criterion, winner in _winners(x, y, names, criteria, sigma, tie_margin).items():
            wins[criterion] += winner == true_form
    return wins


def form_recovery_rate(
    true_form: str,
    true_params: Mapping[str, float],
    n_points: int,
    noise_sd: float,
    x_range: tuple[float, float],
    n_trials: int,
    seed: int,
    forms: Iterable[str] | None = None,
    criterion: str = "aicc",
    *,
    tie_margin: float = DEFAULT_TIE_MARGIN,
    n_problems: int | None = None,
) -> float:
    """Fraction of simulated data sets on which ``true_form`` is selected among ``forms``.

    Each trial samples ``n_points`` log-spaced x in ``x_range`` and draws y around the true
    curve: Gaussian noise of standard deviation ``noise_sd`` (y units; the noise level is then
    estimated by each fit), or, with ``n_problems``, an accuracy measured on that many problems
    (``Binomial(n_problems, y) / n_problems``, weighted by :func:`binomial_sigma`; ``noise_sd``
    is then unused). The forms (all of ``FORMS`` by default) are ranked as :func:`compare_forms`
    ranks them, by ``criterion`` (``"aic"``, ``"aicc"``, ``"bic"`` or ``"cv_rmse"``; the last is
    n times slower) under the near-tie rule with ``tie_margin``. A true form with more
    parameters than ``n_points - 1`` is never fitted, so its rate is 0.
    """
    _check_criterion(criterion)
    names = _resolve_form_names(forms)
    wins = _recovery_wins(
        true_form,
        true_params,
        n_points,
        noise_sd,
        x_range,
        n_trials,
        seed,
        names,
        [criterion],
        tie_margin,
        n_problems,
    )
    return wins[criterion] / int(n_trials)


def recovery_table(
    true_forms: Mapping[str, Mapping[str, float]],
    noise_sds: Sequence[float],
    x_range: tuple[float, float],
    n_points: Sequence[int] = range(4, 13),
    n_trials: int = 200,
    seed: int = 0,
    forms: Iterable[str] | None = None,
    criterion: str | Sequence[str] = "aicc",
    level: float = 0.95,
    *,
    tie_margin: float = DEFAULT_TIE_MARGIN,
    n_problems: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Recovery rates over a grid of sample sizes and noise levels, as a tidy table.

    ``true_forms`` maps a form name to its true parameters. The noise levels are the Gaussian
    ``noise_sds`` or, when ``n_problems`` is given, binomial accuracies on each of those numbers
    of problems (``noise_sds`` is then ignored, and the table's ``noise`` column holds the
    number of problems). ``criterion`` may name several criteria: each trial's data are ranked
    under every one, so the criteria are compared on the same data sets. One row per (true
    form, n_points, noise level, criterion) with columns ``n_points``, ``noise_sd`` (NaN for
    binomial noise), ``n_problems`` (NaN for Gaussian noise), ``true_form``, ``criterion``,
    ``rate``, ``rate_lo``, ``rate_hi`` (Wilson interval at ``level``) and ``n_trials``. Every
    cell gets its own random stream spawned from ``seed``, so the table is reproducible cell by
    cell.
    """
    _check_level(level)
    criteria = [criterion] if isinstance(criterion, str) else list(criterion)
    if not criteria:
        raise ValueError("criterion must name at least one criterion")
    for name in criteria:
        _check_criterion(name)
    names = _resolve_form_names(forms)
    noise_levels: list[tuple[float, int | None]] = (
        [(float(sd), None) for sd in noise_sds]
        if n_problems is None
        else [(0.0, int(problems)) for problems in n_problems]
    )
    cells = [
        (true_form, int(size), noise)
        for true_form in true_forms
        for size in n_points
        for noise in noise_levels
    ]
    cell_seeds = np.random.SeedSequence(seed).spawn(len(cells))
    rows = []
    for (true_form, size, (noise_sd, problems)), cell_seed in zip(cells, cell_seeds, strict=True):
        wins = _recovery_wins(
            true_form,
            true_forms[true_form],
            size,
            noise_sd,
            x_range,
            n_trials,
            int(cell_seed.generate_state(1)[0]),
            names,
            criteria,
            tie_margin,
            problems,
        )
        for name in criteria:
            rate_lo, rate_hi = wilson_interval(wins[name], n_trials, level)
            rows.append(
                {
                    "n_points": size,
                    "noise_sd": math.nan if problems is not None else noise_sd,
                    "n_problems": math.nan if problems is None else float(problems),
                    "true_form": true_form,
                    "criterion": name,
                    "rate": wins[name] / n_trials,
                    "rate_lo": rate_lo,
                    "rate_hi": rate_hi,
                    "n_trials": n_trials,
                }
            )
    return pd.DataFrame(rows)
