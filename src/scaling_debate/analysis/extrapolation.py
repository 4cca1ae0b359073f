"""Extrapolating loss with compute: GPT-3's pure power law against the GPT-4 report's floor.

The two forms are ``L = a * C**b`` (Brown et al. 2020, Figure 3.1: ``2.57 * C**-0.048`` with C in
PF-days) and ``L = a * C**b + c`` (Henighan et al. 2020; OpenAI 2023), with ``b < 0`` and an
irreducible loss ``c``. This module fits both, asks how the compute needed for a target loss
depends on the floor when the curve keeps GPT-3's point and local slope, turns a compute
multiple into doublings and calendar years, and backtests both forms: fit on the low-compute
end, score held-out points far beyond it, with intervals from `uncertainty`. No torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from scaling_debate import _checks
from scaling_debate.analysis import laws, uncertainty

FORMS = ("pure", "floor")


@dataclass(frozen=True)
class LossLaw:
    """``L = a * C**b + c`` (``c`` is 0.0 for the pure power law)."""

    a: float
    b: float
    c: float = 0.0

    def predict(self, compute: ArrayLike) -> np.ndarray:
        return self.a * np.asarray(compute, dtype=float) ** self.b + self.c

    def local_slope(self, compute: float) -> float:
        """``d ln L / d ln C`` at ``compute``."""
        power = self.a * compute**self.b
        return self.b * power / (power + self.c)

    def compute_for(self, loss: float) -> float:
        """The compute at which the law reaches ``loss``; inf when ``loss`` is at or below c."""
        if loss <= self.c:
            return math.inf
        return ((loss - self.c) / self.a) ** (1 / self.b)

    def as_dict(self) -> dict[str, float]:
        return {"a": self.a, "b": self.b, "c": self.c}


def fit(compute: ArrayLike, loss: ArrayLike, form: str = "pure") -> LossLaw:
    """Fit ``form`` (``"pure"`` or ``"floor"``) by least squares on log loss.

    The pure form is ordinary least squares of ln L on ln C; the floor form is nonlinear least
    squares from several starting floors, with ``0 <= c < min L`` (see `laws.fit_power_law`).
    """
    _checks.one_of("form", form, FORMS)
    result = laws.fit_power_law(compute, loss, offset=form == "floor")
    return LossLaw(a=result.A, b=-result.alpha, c=result.E)


def through_point(loss: float, compute: float, slope: float, floor: float) -> LossLaw:
    """The law with floor ``floor`` through ``(compute, loss)`` with local slope ``slope``.

    Keeping ``d ln L / d ln C = slope`` at the point fixes the exponent of the reducible part:
    ``b = slope * L / (L - c)``, so a higher floor means a steeper approach to it.
    """
    _checks.positive_number("loss", loss)
    _checks.positive_number("compute", compute)
    if not slope < 0:
        raise ValueError(f"slope={slope!r}: must be negative (loss falls with compute)")
    if not 0 <= floor < loss:
        raise ValueError(f"floor={floor!r}: must be in [0, loss={loss!r})")
    b = slope * loss / (loss - floor)
    return LossLaw(a=(loss - floor) / compute**b, b=b, c=floor)


def compute_multiple(
    target: float, loss: float, slope: float, floor: float | ArrayLike
) -> float | np.ndarray:
    """Multiple of the anchor's compute needed to reach ``target`` under `through_point`'s law.

    ``((L - c) / (target - c)) ** (-1 / b)``; ``inf`` where the floor is at or above the target.
    Vectorised over ``floor``.
    """
    floors = np.asarray(floor, dtype=float)
    if np.any(floors < 0) or np.any(floors >= loss):
        raise ValueError(f"floor={floor!r}: every floor must be in [0, loss={loss!r})")
    if not 0 < target < loss:
        raise ValueError(f"target={target!r}: must be in (0, loss={loss!r})")
    with np.errstate(divide="ignore", invalid="ignore"):
        b = slope * loss / (loss - floors)
        multiple = np.where(
            floors < target, ((loss - floors) / (target - floors)) ** (-1 / b), np.inf
        )
    return float(multiple) if multiple.ndim == 0 else multiple


def timeline(
    multiple: float,
    doubling_months: float | None = None,
    growth_per_year: float | None = None,
    start_year: float = 2020.4,
) -> dict[str, float]:
    """Doublings, years and calendar year to grow compute by ``multiple``.

    Give either a doubling time in months or a growth factor per year. ``start_year`` is a
    decimal year (GPT-3: May 2020, 2020.4).
    """
    _checks.positive_number("multiple", multiple)
    if (doubling_months is None) == (growth_per_year is None):
        raise ValueError("give exactly one of doubling_months and growth_per_year")
    if doubling_months is not None:
        _checks.positive_number("doubling_months", doubling_months)
        months = doubling_months
    else:
        _checks.positive_number("growth_per_year", growth_per_year)
        if growth_per_year <= 1:
            raise ValueError(f"growth_per_year={growth_per_year!r}: must be above 1")
        months = 12 * math.log(2) / math.log(growth_per_year)
    doublings = math.log2(multiple)
    years = doublings * months / 12
    return {
        "doublings": doublings,
        "doubling_months": months,
        "years": years,
        "year": start_year + years,
    }


def implied_doubling_months(multiple: float, months_elapsed: float) -> float:
    """The doubling time (months) that grows compute by ``multiple`` in ``months_elapsed``."""
    _checks.positive_number("months_elapsed", months_elapsed)
    if not multiple > 1:
        raise ValueError(f"multiple={multiple!r}: must be above 1")
    return months_elapsed / math.log2(multiple)


def frontier(frame: pd.DataFrame, compute: str = "compute", loss: str = "loss") -> pd.DataFrame:
    """The compute-efficient frontier: rows whose loss beats every row with less compute.

    This is how Kaplan et al. (2020) and Brown et al. (2020, Figure 3.1) read ``L(C)`` off many
    runs: the lower envelope of loss against compute.
    """
    ordered = frame.sort_values(compute, kind="stable").reset_index(drop=True)
    best = ordered[loss].cummin()
    keep = ordered[loss] <= best
    keep &= ~ordered[loss].duplicated()  # one row per frontier loss
    return ordered[keep].reset_index(drop=True)


def backtest(
    compute: ArrayLike,
    loss: ArrayLike,
    fit_max: float,
    forms: Sequence[str] = FORMS,
    n_boot: int = 200,
    seed: int = 0,
    loss_sd: ArrayLike | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Fit each form on points with compute at most ``fit_max``; score every point beyond it.

    One row per held-out point and form: ``form, compute, distance`` (compute / largest fitted
    compute), ``measured, predicted, error`` ((predicted - measured) / measured) and the interval
    ``error_lo, error_hi``. The interval comes from refitting on bootstrap replicates of the fit
    points through `uncertainty`: rows resampled with replacement (`uncertainty.bootstrap`), or,
    when ``loss_sd`` gives each point's measurement standard deviation, losses redrawn around
    their values (a parametric bootstrap through `uncertainty.replicate`), which suits a fit set
    too small to resample. The interval reflects the fit's uncertainty, not the held-out
    points' own noise. ``failed`` counts replicates whose fit failed.
    """
    c = np.asarray(compute, dtype=float)
    y = np.asarray(loss, dtype=float)
    if c.shape != y.shape or c.ndim != 1:
        raise ValueError(f"compute and loss must be 1-d of equal length; got {c.shape}, {y.shape}")
    inside = c <= fit_max
    if inside.sum() < 2 or (~inside).sum() < 1:
        raise ValueError(
            f"fit_max={fit_max!r}: needs at least 2 points to fit and 1 beyond; got "
            f"{int(inside.sum())} and {int((~inside).sum())}"
        )
    sd = None if loss_sd is None else np.asarray(loss_sd, dtype=float)[inside]
    fitted = pd.DataFrame({"compute": c[inside], "loss": y[inside]})
    targets_c, targets_y = c[~inside], y[~inside]
    rows = []
    for form in forms:

        def errors(points: pd.DataFrame, form: str = form) -> dict[str, float]:
            law = fit(points["compute"], points["loss"], form)
            predicted = law.predict(targets_c)
            return {f"e{i}": v for i, v in enumerate((predicted - targets_y) / targets_y)}

        if sd is None:
            boot = uncertainty.bootstrap(errors, fitted, n_boot=n_boot, seed=seed)
        else:

            def draw(rng: np.random.Generator) -> dict[str, float]:
                noisy = fitted.assign(loss=fitted["loss"] + rng.normal(0.0, sd))
                return errors(noisy)

            boot = uncertainty.replicate(lambda: errors(fitted), draw, n_boot=n_boot, seed=seed)
        law = fit(fitted["compute"], fitted["loss"], form)
        for i, (tc, ty) in enumerate(zip(targets_c, targets_y, strict=True)):
            lo, hi = boot.interval(f"e{i}", level)
            predicted = float(law.predict(tc))
            rows.append(
                {
                    "form": form,
                    "compute": float(tc),
                    "distance": float(tc / c[inside].max()),
                    "measured": float(ty),
                    "predicted": predicted,
                    "error": (predicted - ty) / ty,
                    "error_lo": lo,
                    "error_hi": hi,
                    "failed": boot.n_failed,
                    "fit_c": law.c,
                }
            )
    return pd.DataFrame(rows)


def at_distances(
    table: pd.DataFrame, targets: Sequence[float] = (10, 30, 100, 300, 1000), tolerance: float = 2
) -> pd.DataFrame:
    """For each form and target distance, the held-out row nearest it in log distance.

    Rows further than a factor ``tolerance`` from every target are left out, so a target the
    data do not reach has no row. Adds a ``target`` column.
    """
    picked = []
    for form, rows in table.groupby("form", sort=False):
        for target in targets:
            gap = np.abs(np.log(rows["distance"].to_numpy() / target))
            best = int(np.argmin(gap))
            if gap[best] <= math.log(tolerance):
                picked.append({"target": target, **rows.iloc[best].to_dict(), "form": form})
    return pd.DataFrame(picked)
