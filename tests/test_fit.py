"""Laws and uncertainty: recovery of known parameters, a published refit, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad

from scaling_debate import published
from scaling_debate.analysis.laws import (
    COARSE_GRID,
    ChinchillaFit,
    allocation_exponent,
    chinchilla_objective,
    fit_chinchilla,
    fit_power_law,
)
from scaling_debate.analysis.uncertainty import bootstrap, extrapolate

# Hoffmann et al. (2022) eq. 10 as printed: the parameters our synthetic data are drawn from.
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
# Eight starts from Hoffmann's ranges: enough for clean synthetic data, and keeps the test fast.
SMALL_GRID = {"alpha": (0.5,), "beta": (0.5,), "e": (0.0, 1.0), "a": (5.0, 10.0), "b": (5.0, 10.0)}


def noisy_power_law(rng, x, A, alpha, E=0.0, sd_log=0.02):
    return (A * x**-alpha + E) * np.exp(rng.normal(0.0, sd_log, size=len(x)))


def power_law_frame(rng, n=30, A=50.0, alpha=0.3, sd_log=0.03):
    x = np.logspace(0, 4, n)
    return pd.DataFrame({"x": x, "y": noisy_power_law(rng, x, A, alpha, sd_log=sd_log)})


def power_law_params(df: pd.DataFrame) -> dict[str, float]:
    return fit_power_law(df["x"], df["y"]).as_dict()


def predict_power_law(params: dict[str, float], x: np.ndarray) -> np.ndarray:
    return params["A"] * x ** -params["alpha"] + params["E"]


def objective_value(theta, *args):
    return chinchilla_objective(theta, *args)[0]


def objective_gradient(theta, *args):
    return chinchilla_objective(theta, *args)[1]


# ---------------------------------------------------------------------------- power laws


def test_power_law_without_offset_recovers_known_parameters():
    rng = np.random.default_rng(1)
    x = np.logspace(0, 4, 40)
    fit = fit_power_law(x, noisy_power_law(rng, x, A=50.0, alpha=0.3))
    assert fit.alpha == pytest.approx(0.3, abs=0.01)
    assert fit.A == pytest.approx(50.0, rel=0.05)
    assert fit.E == 0.0
    assert not fit.offset
    assert fit.n == 40
    assert fit.rmse_log == pytest.approx(0.02, rel=0.3)


def test_power_law_with_offset_recovers_known_parameters():
    rng = np.random.default_rng(2)
    x = np.logspace(0, 5, 60)
    fit = fit_power_law(x, noisy_power_law(rng, x, A=20.0, alpha=0.5, E=1.5, sd_log=0.005), True)
    assert fit.E == pytest.approx(1.5, abs=0.05)
    assert fit.alpha == pytest.approx(0.5, abs=0.03)
    assert fit.A == pytest.approx(20.0, rel=0.1)
    assert fit.offset


def test_power_law_offset_stays_in_allowed_range_when_data_show_no_floor():
    rng = np.random.default_rng(3)
    x = np.logspace(0, 4, 30)
    y = noisy_power_law(rng, x, A=50.0, alpha=0.3, sd_log=0.01)
    fit = fit_power_law(x, y, offset=True)
    assert 0.0 <= fit.E < y.min()
    assert fit.E < 0.1 * y.min()
    assert fit.alpha == pytest.approx(0.3, abs=0.03)


def test_power_law_predict_and_as_dict_agree_with_parameters():
    fit = fit_power_law([1.0, 10.0, 100.0], [8.0, 4.0, 2.0])
    assert fit.alpha == pytest.approx(np.log10(2))
    assert fit.predict([1000.0]) == pytest.approx([1.0])
    assert fit.as_dict() == {"A": fit.A, "alpha": fit.alpha, "E": 0.0}


# ---------------------------------------------------------------------------- Chinchilla


def test_chinchilla_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    log_n = np.log(np.logspace(7, 10, 25))
    log_d = np.log(np.logspace(8, 11, 25))
    log_loss = np.log(rng.uniform(2.0, 4.0, size=25))
    for delta in (1e-3, 10.0):  # mostly linear Huber branch, then all quadratic
        for theta in ([6.0, 6.0, 0.5, 0.34, 0.28], [3.0, 9.0, -0.5, 0.1, 0.6]):
            args = (log_n, log_d, log_loss, delta)
            scale = np.linalg.norm(objective_gradient(np.array(theta), *args))
            error = check_grad(objective_value, objective_gradient, np.array(theta), *args)
            assert error < 1e-5 * scale


def test_chinchilla_objective_is_sum_of_huber_losses_of_log_residuals():
    N, D = np.array([1e8, 1e9, 1e10]), np.array([1e9, 1e10, 1e11])
    theta = np.array([6.0, 7.0, 0.5, 0.34, 0.28])
    law = ChinchillaFit(
        E=np.exp(0.5), A=np.exp(6.0), B=np.exp(7.0), alpha=0.34, beta=0.28, loss=0, n=0
    )
    residuals = np.array([0.005, -0.03, 0.2])  # inside, and twice outside, delta = 0.01
    log_loss = np.log(law.predict(N, D)) - residuals
    value, _ = chinchilla_objective(theta, np.log(N), np.log(D), log_loss, 0.01)
    expected = 0.5 * 0.005**2 + 0.01 * (0.03 - 0.005) + 0.01 * (0.2 - 0.005)
    assert value == pytest.approx(expected, rel=1e-9)


def test_chinchilla_recovers_known_parameters_despite_an_outlier():
    rng = np.random.default_rng(5)
    n_grid, d_grid = np.meshgrid(np.logspace(7, 10, 7), np.logspace(8.5, 11.5, 7))
    N, D = n_grid.ravel(), d_grid.ravel()
    truth = ChinchillaFit(**HOFFMANN, loss=0.0, n=len(N))
    L = truth.predict(N, D) * np.exp(rng.normal(0.0, 0.002, size=len(N)))
    L[0] *= 1.5  # a diverged run: the Huber loss must not chase it
    fit = fit_chinchilla(N, D, L, init_grid=SMALL_GRID)
    assert fit.E == pytest.approx(HOFFMANN["E"], rel=0.03)
    assert fit.alpha == pytest.approx(HOFFMANN["alpha"], abs=0.03)
    assert fit.beta == pytest.approx(HOFFMANN["beta"], abs=0.03)
    assert fit.a == pytest.approx(truth.a, abs=0.03)
    assert fit.n == len(N)
    assert np.max(np.abs(np.log(fit.predict(N, D) / L))[1:]) < 0.01


@pytest.mark.parametrize("compute", [1e20, 1e23, 5.76e23])
def test_optimal_allocation_spends_budget_and_minimises_loss_on_isoflop_line(compute):
    fit = ChinchillaFit(**HOFFMANN, loss=0.0, n=0)
    n_opt, d_opt = fit.optimal_allocation(compute)
    assert 6 * n_opt * d_opt == pytest.approx(compute, rel=1e-10)
    scan_n = np.logspace(np.log10(n_opt) - 2, np.log10(n_opt) + 2, 40001)
    scan_loss = fit.predict(scan_n, compute / (6 * scan_n))
    assert scan_n[np.argmin(scan_loss)] == pytest.approx(n_opt, rel=1e-3)


def test_optimal_allocation_exponents_follow_from_alpha_and_beta():
    fit = ChinchillaFit(**HOFFMANN, loss=0.0, n=0)
    assert fit.a == pytest.approx(0.28 / 0.62)
    assert fit.a + fit.b == pytest.approx(1.0)
    n_small, _ = fit.optimal_allocation(1e20)
    n_large, _ = fit.optimal_allocation(1e22)
    assert n_large / n_small == pytest.approx(100**fit.a)
    n_array, d_array = fit.optimal_allocation(np.array([1e20, 1e22]))
    assert n_array.shape == d_array.shape == (2,)


def test_reproduces_epoch_refit():
    """Besiroglu et al. (2024, arXiv:2404.10102) refit of Hoffmann et al.'s Approach 3.

    Their notebook (epoch-research/analyzing-chinchilla, data_analysis.ipynb) drops the five
    points with the highest loss (``loss < sorted(loss)[-5]``) and minimises the *sum* of
    Huber(delta=1e-3) losses of log residuals from Hoffmann's grid. Their printed estimates
    and bootstrap standard errors are in ``chinchilla_fits.csv``.
    """
    printed = published.load("chinchilla_fits").query("fit == 'epoch'").set_index("quantity")
    points = published.load("epoch_chinchilla_points")
    assert len(points) == 245
    kept = points[points["loss_nats"] < np.sort(points["loss_nats"])[-5]]
    assert len(kept) == 240
    fit = fit_chinchilla(
        kept["model_params"], kept["train_tokens"], kept["loss_nats"], init_grid=COARSE_GRID
    )
    for name in ("E", "A", "B", "alpha", "beta"):
        value, standard_error = printed.loc[name, ["value", "standard_error"]]
        assert abs(getattr(fit, name) - value) < 0.1 * standard_error, name
        assert getattr(fit, name) == pytest.approx(value, rel=0.03), name
    assert fit.a == pytest.approx(printed.loc["a", "value"], abs=0.002)
    # Same objective at Epoch's printed optimum: ours must be at least as low.
    epoch_theta = (
        np.log(printed.loc[["A", "B", "E"], "value"]).tolist()
        + printed.loc[["alpha", "beta"], "value"].tolist()
    )
    logs = [np.log(kept[c].to_numpy()) for c in ("model_params", "train_tokens", "loss_nats")]
    assert fit.loss <= chinchilla_objective(epoch_theta, *logs, 1e-3)[0]


# ---------------------------------------------------------------------------- Approach 2


def test_allocation_exponent_recovers_power_of_compute():
    compute = np.logspace(18, 22, 6)
    fit = allocation_exponent(compute, 0.1 * compute**0.5)
    assert fit.a == pytest.approx(0.5)
    assert fit.k == pytest.approx(0.1)
    assert fit.predict([1e24]) == pytest.approx([1e11])


# ---------------------------------------------------------------------------- bootstrap


def test_bootstrap_percentile_intervals_cover_true_exponent():
    covered = 0
    n_datasets = 40
    for seed in range(n_datasets):
        data = power_law_frame(np.random.default_rng(100 + seed))
        lo, hi = bootstrap(power_law_params, data, n_boot=200, seed=seed).interval("alpha")
        covered += lo <= 0.3 <= hi
    # A nominal 95% interval: far fewer hits means the intervals are too narrow.
    assert covered >= 0.8 * n_datasets


def test_bootstrap_result_summary_matches_samples():
    data = power_law_frame(np.random.default_rng(7))
    boot = bootstrap(power_law_params, data, n_boot=100)
    assert len(boot.samples) == 100
    assert boot.n_failed == 0
    assert boot.point == power_law_params(data)
    summary = boot.summary(level=0.9)
    assert list(summary.columns) == ["name", "estimate", "se", "lo", "hi"]
    alpha_row = summary.set_index("name").loc["alpha"]
    assert alpha_row["se"] == pytest.approx(boot.samples["alpha"].std())
    assert (alpha_row["lo"], alpha_row["hi"]) == boot.interval("alpha", level=0.9)
    assert alpha_row["lo"] < alpha_row["estimate"] < alpha_row["hi"]
    with pytest.raises(ValueError, match="'gamma'"):
        boot.interval("gamma")


def test_bootstrap_is_reproducible_with_a_seed():
    data = power_law_frame(np.random.default_rng(8))
    first = bootstrap(power_law_params, data, n_boot=20, seed=3).samples
    pd.testing.assert_frame_equal(
        first, bootstrap(power_law_params, data, n_boot=20, seed=3).samples
    )


def test_bootstrap_counts_failed_replicates_instead_of_raising():
    # Three points: many resamples hold fewer than two distinct x, which fit_power_law refuses.
    data = pd.DataFrame({"x": [1.0, 10.0, 100.0], "y": [8.0, 4.1, 2.0]})
    boot = bootstrap(power_law_params, data, n_boot=60, seed=0)
    assert boot.n_failed > 0
    assert boot.n_failed + len(boot.samples) == 60


def test_bootstrap_with_groups_resamples_whole_groups():
    data = pd.DataFrame({"seed": np.repeat([0, 1, 2, 3], 3), "x": np.arange(1.0, 13.0)})

    def rows_per_seed(df: pd.DataFrame) -> dict[str, float]:
        counts = df["seed"].value_counts()
        return {"whole_groups": float((counts % 3 == 0).all()), "rows": float(len(df))}

    boot = bootstrap(rows_per_seed, data, n_boot=30, groups="seed")
    assert (boot.samples["whole_groups"] == 1.0).all()
    assert (boot.samples["rows"] == 12.0).all()


def test_extrapolation_interval_covers_truth_and_widens_with_noise():
    data = power_law_frame(np.random.default_rng(9))
    boot = bootstrap(power_law_params, data, n_boot=200)
    x_new = np.array([1e5, 1e6])
    band = extrapolate(boot, predict_power_law, x_new)
    assert list(band.columns) == ["x", "estimate", "lo", "hi"]
    assert band["estimate"].to_numpy() == pytest.approx(predict_power_law(boot.point, x_new))
    truth = 50.0 * x_new**-0.3
    assert ((band["lo"] <= truth) & (truth <= band["hi"])).all()
    wider = extrapolate(boot, predict_power_law, x_new, residual_sd_log=0.05)
    assert ((wider["hi"] - wider["lo"]) > (band["hi"] - band["lo"])).all()


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fit_power_law([1.0, -2.0, 3.0], [1.0, 2.0, 3.0]), r"x\[1\] = -2\.0"),
        (lambda: fit_power_law([1.0, 2.0, 3.0], [1.0, np.nan, 3.0]), r"y\[1\] = nan"),
        (lambda: fit_power_law([1.0, 2.0], [1.0, 2.0, 3.0]), "same length"),
        (lambda: fit_power_law([1.0, 2.0], [1.0, 2.0], offset=True), "at least 3 distinct"),
        (lambda: fit_chinchilla([1e8] * 4, [1e9] * 4, [3.0] * 4), "at least 5 points"),
        (lambda: fit_chinchilla([1e8, 0.0] * 3, [1e9] * 6, [3.0] * 6), r"N\[1\] = 0\.0"),
        (lambda: fit_chinchilla([1e8] * 6, [1e9] * 6, [3.0] * 6, delta=0.0), "delta"),
        (lambda: fit_chinchilla(*[np.logspace(1, 2, 6)] * 3, init_grid={"a": [1]}), "'alpha'"),
        (lambda: ChinchillaFit(**HOFFMANN, loss=0, n=0).optimal_allocation(-1.0), "C must"),
        (lambda: bootstrap(power_law_params, pd.DataFrame({"x": [1.0]}), n_boot=1), "n_boot"),
        (lambda: bootstrap(power_law_params, pd.DataFrame({"x": [1.0]}), groups="g"), "'g'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()
