"""Functional-form comparison: known forms recovered, criteria by hand, failures reported."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from scaling_debate.analysis import forms
from scaling_debate.analysis.forms import (
    FORMS,
    binomial_sigma,
    compare_forms,
    fit_form,
    form_recovery_rate,
    form_separation,
    recovery_table,
)

# One noise seed for the known-form checks; the recovery tests below use many seeded sets.
SEED = 1

# (x, true parameters, noise sd, relative tolerance on each parameter). Sizes of 1e8..1e11
# exercise the internal rescaling of x.
KNOWN_FORMS = {
    "linear": (np.geomspace(1e8, 1e11, 12), {"a": 2.0, "b": 3e-11}, 0.05, 0.1),
    "logarithmic": (np.geomspace(1, 1e6, 12), {"a": 1.0, "b": 0.5}, 0.05, 0.1),
    "logistic": (
        np.geomspace(1, 1e6, 15),
        {"lo": 0.1, "hi": 0.9, "m": math.log(1e3), "w": 0.7},
        0.02,
        0.1,
    ),
    "exponential": (np.geomspace(0.05, 1, 15), {"a": 1.0, "b": 0.05, "c": 6.0}, 0.05, 0.15),
    "quadratic": (np.geomspace(1e8, 1e11, 12), {"a": 1.0, "b": 2e-11, "c": 3e-22}, 0.05, 0.3),
}


def noisy(name: str, x: np.ndarray, params: dict[str, float], noise_sd: float) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    return FORMS[name].model(x, *params.values()) + rng.normal(0.0, noise_sd, len(x))


@pytest.mark.parametrize("name", sorted(KNOWN_FORMS))
def test_true_form_ranks_first_and_its_parameters_are_recovered(name):
    x, params, noise_sd, tolerance = KNOWN_FORMS[name]
    table = compare_forms(x, noisy(name, x, params, noise_sd))
    assert table["form"].iloc[0] == name
    # the selected form is within the tie margin of the best AICc, and the rest follow by AICc
    assert table["delta_aicc"].iloc[0] <= forms.DEFAULT_TIE_MARGIN
    assert table["aicc"].iloc[1:].is_monotonic_increasing
    assert table["converged"].all()
    fitted = table["params"].iloc[0]
    assert fitted.keys() == params.keys()
    for key, true_value in params.items():
        assert fitted[key] == pytest.approx(true_value, rel=tolerance), key
    # With the right form, cross-validated error is of the order of the noise.
    assert table["cv_rmse"].iloc[0] < 2 * noise_sd


def test_y_equals_x_at_six_log_spaced_sizes_is_linear():
    # The chapter's key check: the curve that looks like sudden emergence on a semilog plot.
    x = np.geomspace(1, 1e5, 6)
    table = compare_forms(x, x)
    assert table["form"].iloc[0] == "linear"
    assert table["params"].iloc[0] == pytest.approx({"a": 0.0, "b": 1.0}, abs=1e-6)
    # The quadratic fits exactly too; below the numerical floor the two tie in RSS, so only
    # the AIC's penalty for one more parameter (2) separates them, not rounding noise.
    assert table.set_index("form").loc["quadratic", "delta_aic"] == pytest.approx(2.0)


def test_criteria_and_loo_cv_by_hand():
    # Line through (1, 0), (2, 0), (3, 3): slope 1.5, intercept -2, residuals 0.5, -1, 0.5.
    table = compare_forms([1.0, 2.0, 3.0], [0.0, 0.0, 3.0], forms=["linear"])
    row = table.iloc[0]
    assert row["params"] == pytest.approx({"a": -2.0, "b": 1.5})
    assert row["rss"] == pytest.approx(1.5)
    minus_two_log_l = 3 * (math.log(2 * math.pi * 1.5 / 3) + 1)
    assert row["aic"] == pytest.approx(minus_two_log_l + 2 * 3)  # k = 2 + the noise variance
    assert row["bic"] == pytest.approx(minus_two_log_l + 3 * math.log(3))
    assert math.isnan(row["aicc"])  # n = 3 <= k + 1 = 4
    # Leaving out x=1: line through (2,0),(3,3) predicts -3; x=2: 1.5; x=3: 0 (error -3).
    assert row["cv_rmse"] == pytest.approx(math.sqrt((9 + 2.25 + 9) / 3))


def test_aicc_adds_the_small_sample_penalty():
    row = compare_forms([1.0, 2.0, 3.0, 4.0, 5.0], [0.1, 2.2, 3.9, 6.1, 8.0], ["linear"]).iloc[0]
    assert row["aicc"] == pytest.approx(row["aic"] + 2 * 3 * 4 / (5 - 3 - 1))


def test_known_sigma_weights_the_fit_and_the_likelihood():
    x = np.arange(1.0, 7.0)
    y = 1 + 2 * x
    y[2] += 100  # an outlier, but with an enormous stated uncertainty
    sigma = np.full(6, 0.1)
    sigma[2] = 1e6
    fit = fit_form("linear", x, y, sigma=sigma)
    assert fit.params == pytest.approx({"a": 1.0, "b": 2.0}, abs=1e-6)
    row = compare_forms(x, y, forms=["linear"], sigma=sigma).iloc[0]
    expected = fit.chi2 + np.sum(np.log(2 * math.pi * sigma**2)) + 2 * 2
    assert row["aic"] == pytest.approx(expected)


def test_too_many_parameters_are_reported_not_raised():
    x = np.geomspace(1, 100, 4)
    table = compare_forms(x, np.log(x) + np.array([0.0, 0.1, -0.1, 0.0]), sort_by="aic")
    unfitted = table[table["n_params"] == 4]
    assert set(unfitted["form"]) == {"cubic", "logistic"}
    assert not unfitted["converged"].any()
    assert unfitted["aic"].isna().all()
    assert unfitted["message"].str.contains("at least 5 points").all()
    assert list(table.index[table["converged"]]) == [0, 1, 2, 3, 4]  # failures last


def test_a_failed_fit_is_reported_not_raised(monkeypatch):
    def never_converges(fun, bounds, method, options):
        middle = (bounds[0] + bounds[1]) / 2
        return optimize.OptimizeResult(
            x=middle, fun=fun(middle), success=False, message="iteration limit reached"
        )

    monkeypatch.setattr(forms.optimize, "minimize_scalar", never_converges)
    x = np.geomspace(1, 1e4, 8)
    table = compare_forms(x, 3 + 2 * np.log(x), cv=False)
    failed = table[~table["converged"]]
    assert set(failed["form"]) == {"exponential", "power"}  # the forms polished by Brent
    assert failed["message"].str.contains("did not converge: iteration limit").all()
    assert failed["aic"].isna().all()
    assert list(table["form"].iloc[-2:]) == list(failed["form"])


def test_unknown_form_name_raises_naming_it():
    with pytest.raises(ValueError, match=r"'sigmoid'.*allowed.*'linear'"):
        compare_forms([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], forms=["linear", "sigmoid"])
    with pytest.raises(ValueError, match="sigmoid"):
        fit_form("sigmoid", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("x", "y", "sigma", "match"),
    [
        ([1.0, 0.0, 2.0], [1.0, 2.0, 3.0], None, r"x must be positive.*x\[1\] = 0.0"),
        ([1.0, 2.0, 3.0], [1.0, np.nan, 3.0], None, r"y must be finite.*y\[1\]"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], None, "same length"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, -1.0, 1.0], r"sigma must be positive"),
    ],
)
def test_bad_data_raise_naming_the_value(x, y, sigma, match):
    with pytest.raises(ValueError, match=match):
        compare_forms(x, y, sigma=sigma)


def test_bad_sort_criterion_raises():
    with pytest.raises(ValueError, match="criterion must be one of"):
        compare_forms([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], sort_by="r2")


@pytest.mark.parametrize("name", sorted(FORMS))
def test_rescaled_parameters_give_the_same_curve(name):
    # The fits run on u = x / scale; rescale must turn their parameters into ones on x.
    theta = {
        "linear": [0.5, 2.0],
        "logarithmic": [0.5, 2.0],
        "quadratic": [0.5, 2.0, -1.0],
        "cubic": [0.5, 2.0, -1.0, 3.0],
        "exponential": [0.5, 2.0, -3.0],
        "power": [2.0, -0.3, 0.5],
        "logistic": [0.1, 0.9, -2.0, 0.7],
    }[name]
    form = FORMS[name]
    scale = 3e10
    x = np.geomspace(1e8, 1e11, 7)
    on_x = form.model(x, *form.rescale(np.array(theta), scale))
    assert on_x == pytest.approx(form.model(x / scale, *theta), rel=1e-10)


def test_cubic_at_model_sizes_is_recovered_in_original_units():
    x = np.geomspace(1e8, 1e11, 9)
    params = {"a": 1.0, "b": 2e-11, "c": 3e-22, "d": 4e-33}
    fit = fit_form("cubic", x, FORMS["cubic"].model(x, *params.values()))
    assert fit.converged
    assert fit.params == pytest.approx(params, rel=1e-6)
    assert fit.predict([5e10]) == pytest.approx(FORMS["cubic"].model(5e10, *params.values()))


def test_initial_guesses_start_near_the_answer():
    x, params, noise_sd, _ = KNOWN_FORMS["logistic"]
    guesses = FORMS["logistic"].initial_guesses(x, noisy("logistic", x, params, noise_sd))
    midpoint_guess = guesses[0][2]
    assert abs(midpoint_guess - params["m"]) < 1.0  # within a factor e of the true midpoint


def test_recovery_rate_is_high_for_an_easy_case():
    rate = form_recovery_rate(
        "logistic",
        {"lo": 0.0, "hi": 1.0, "m": math.log(1e3), "w": 0.5},
        n_points=10,
        noise_sd=0.01,
        x_range=(1.0, 1e6),
        n_trials=20,
        seed=0,
    )
    assert rate >= 0.9


def test_recovery_rate_is_near_chance_for_a_hopeless_case():
    # Noise a hundred times the signal: linear and logarithmic (two parameters each) are
    # equally likely to fit the noise best, so the true one wins about half the time.
    rate = form_recovery_rate(
        "linear",
        {"a": 0.0, "b": 1.0},
        n_points=8,
        noise_sd=1e7,
        x_range=(1.0, 1e5),
        n_trials=200,
        seed=0,
        forms=["linear", "logarithmic"],
    )
    assert 0.35 <= rate <= 0.65


def test_recovery_table_is_tidy_with_wilson_intervals():
    table = recovery_table(
        {"linear": {"a": 0.0, "b": 1.0}},
        noise_sds=[0.0],
        x_range=(1.0, 1e5),
        n_points=[5, 6],
        n_trials=10,
        forms=["linear", "quadratic", "logarithmic"],
    )
    assert list(table.columns) == [
        "n_points",
        "noise_sd",
        "n_problems",
        "true_form",
        "criterion",
        "rate",
        "rate_lo",
        "rate_hi",
        "n_trials",
    ]
    assert list(table["n_points"]) == [5, 6]
    # Without noise every trial is y = x and the line wins: 10 of 10. Wilson's lower end for
    # p = 1 is n / (n + z²).
    z = stats.norm.ppf(0.975)
    expected = pd.Series([10 / (10 + z**2)] * 2, name="rate_lo")
    assert table["rate"].tolist() == [1.0, 1.0]
    pd.testing.assert_series_equal(table["rate_lo"], expected)
    assert table["rate_hi"].tolist() == pytest.approx([1.0, 1.0])


def test_recovery_settings_are_validated():
    with pytest.raises(ValueError, match=r"exactly the keys \['a', 'b'\]"):
        form_recovery_rate("linear", {"a": 0.0}, 5, 0.1, (1.0, 10.0), 3, seed=0)
    with pytest.raises(ValueError, match="must be among the compared forms"):
        form_recovery_rate(
            "linear", {"a": 0.0, "b": 1.0}, 5, 0.1, (1.0, 10.0), 3, seed=0, forms=["cubic"]
        )
    with pytest.raises(ValueError, match="x_range"):
        form_recovery_rate("linear", {"a": 0.0, "b": 1.0}, 5, 0.1, (10.0, 1.0), 3, seed=0)


# ----------------------------------------------------------------------------- selection rule


def test_aicc_undefined_is_reported_and_ranked_last():
    # Five points, noise unknown: k = parameters + 1, and AICc needs n > k + 1, so only the
    # two-parameter forms have one; the others are fitted but ranked last, saying why.
    x = np.geomspace(1, 100, 5)
    table = compare_forms(x, np.log(x) + np.array([0.0, 0.1, -0.1, 0.0, 0.05]))
    undefined = table[table["aicc"].isna()]
    assert set(undefined["form"]) == {"quadratic", "cubic", "exponential", "power", "logistic"}
    assert undefined["converged"].all()
    assert undefined["message"].str.contains("AICc undefined").all()
    assert list(table["form"].iloc[:2]) == ["logarithmic", "linear"]


def test_near_ties_go_to_the_form_with_fewer_parameters():
    # A line with a little noise: the quadratic fits slightly better (lower RSS) but is within
    # two AICc units, so the line is selected; without the margin the order is AICc's alone.
    x = np.geomspace(1, 1e3, 10)
    rng = np.random.default_rng(10)  # a draw on which the quadratic's AICc is the lower one
    y = 0.5 + 0.002 * x + rng.normal(0, 0.05, x.size)
    by_rule = compare_forms(x, y, forms=["linear", "quadratic"], cv=False)
    by_value = compare_forms(x, y, forms=["linear", "quadratic"], cv=False, tie_margin=0)
    aicc = by_value.set_index("form")["aicc"]
    assert 0 < aicc["linear"] - aicc["quadratic"] < forms.DEFAULT_TIE_MARGIN
    assert list(by_value["form"]) == ["quadratic", "linear"]
    assert list(by_rule["form"]) == ["linear", "quadratic"]
    with pytest.raises(ValueError, match="tie_margin"):
        compare_forms(x, y, tie_margin=-1)


def test_binomial_sigma_floors_zero_and_full_counts_at_the_wilson_bound():
    z2 = stats.norm.ppf(0.975) ** 2
    floor = z2 / (2000 + z2)
    sigma = binomial_sigma([0.0, 0.5, 1.0], 2000)
    expected = math.sqrt(floor * (1 - floor) / 2000)
    assert sigma == pytest.approx([expected, math.sqrt(0.25 / 2000), expected])
    with pytest.raises(ValueError, match="fractions"):
        binomial_sigma([1.2], 10)
    with pytest.raises(ValueError, match="n_problems"):
        binomial_sigma([0.5], 0)


def test_n_problems_weights_by_the_binomial_variance():
    x = np.geomspace(1e8, 1e11, 8)
    y = np.linspace(0.0, 0.9, 8)
    weighted = compare_forms(x, y, forms=["linear"], n_problems=500, cv=False)
    explicit = compare_forms(x, y, forms=["linear"], sigma=binomial_sigma(y, 500), cv=False)
    assert weighted["aicc"].iloc[0] == pytest.approx(explicit["aicc"].iloc[0])
    with pytest.raises(ValueError, match="not both"):
        compare_forms(x, y, sigma=0.1, n_problems=500)


# ------------------------------------------------------- recovery as model sizes are sampled

# Eight log-spaced sizes over GPT-3's range, accuracies on 2,000 problems each (Table H.1's).
GPT3_LIKE = np.geomspace(1.25e8, 1.75e11, 8)
PROBLEMS = 2000
SCALE = GPT3_LIKE[-1]
# Parameter sets of every form whose noise-free accuracies stay in [0, 1] and whose curve no
# rival of no more parameters draws through these sizes (separation below); two per form.
SEPARABLE = {
    "linear": [{"a": 0.02, "b": 0.9 / SCALE}, {"a": 0.3, "b": 0.5 / SCALE}],
    "logarithmic": [
        {"a": 0.05 - 0.12 * math.log(1.25e8), "b": 0.12},
        {"a": 0.3 - 0.07 * math.log(1.25e8), "b": 0.07},
    ],
    "quadratic": [
        {"a": 0.05, "b": 2.2 / SCALE, "c": -1.3 / SCALE**2},
        {"a": 0.05, "b": 3.0 / SCALE, "c": -2.2 / SCALE**2},
    ],
    "cubic": [
        {"a": 0.05, "b": 4.0 / SCALE, "c": -6.0 / SCALE**2, "d": 2.9 / SCALE**3},
        {"a": 0.05, "b": 5.0 / SCALE, "c": -8.0 / SCALE**2, "d": 3.9 / SCALE**3},
    ],
    "exponential": [
        {"a": 0.9, "b": -0.88, "c": -30 / SCALE},
        {"a": 0.95, "b": -0.9, "c": -10 / SCALE},
    ],
    "power": [
        {"a": 0.9 / SCALE**0.3, "b": 0.3, "c": 0.02},
        {"a": 0.85 / SCALE**0.6, "b": 0.6, "c": 0.05},
    ],
    "logistic": [
        {"lo": 0.02, "hi": 0.95, "m": math.log(5e9), "w": 0.6},
        {"lo": 0.05, "hi": 0.8, "m": math.log(1.5e9), "w": 1.0},
    ],
}
SETS_PER_CASE = 60
REQUIRED_RATE = 0.9  # the true form must be selected on at least 90% of the seeded sets


@pytest.mark.parametrize("name", sorted(SEPARABLE))
def test_true_form_is_selected_on_binomial_accuracies_at_model_sizes(name):
    form = FORMS[name]
    rng = np.random.default_rng(2024)
    wins = trials = 0
    for params in SEPARABLE[name]:
        truth = form.model(GPT3_LIKE, *(params[key] for key in form.param_names))
        assert np.all((truth >= 0) & (truth <= 1))
        # separable: the closest rival misses the truth by at least 5 binomial sigmas in all
        assert form_separation(name, GPT3_LIKE, truth, binomial_sigma(truth, PROBLEMS)) > 5
        for _ in range(SETS_PER_CASE):
            accuracy = rng.binomial(PROBLEMS, truth) / PROBLEMS
            table = compare_forms(GPT3_LIKE, accuracy, n_problems=PROBLEMS, cv=False)
            assert table["aicc"].notna().all()  # no silent NaN ranks at eight sizes
            wins += table["form"].iloc[0] == name
            trials += 1
    assert wins / trials >= REQUIRED_RATE


def test_an_inseparable_truth_has_zero_separation():
    # A pure quadratic at these sizes is drawn just as well by a power law with exponent two.
    truth = FORMS["quadratic"].model(GPT3_LIKE, 0.05, 0.0, 0.9 / SCALE**2)
    assert form_separation("quadratic", GPT3_LIKE, truth, binomial_sigma(truth, PROBLEMS)) < 1


def test_binomial_recovery_rate_uses_counts_of_problems():
    params = {"lo": 0.02, "hi": 0.95, "m": math.log(5e9), "w": 0.6}
    common = {"x_range": (1.25e8, 1.75e11), "n_trials": 30, "seed": 0}
    many = form_recovery_rate("logistic", params, 8, 0.0, n_problems=2000, **common)
    few = form_recovery_rate("logistic", params, 8, 0.0, n_problems=20, **common)
    assert many >= 0.9 > few
    with pytest.raises(ValueError, match=r"accuracy in \[0, 1\]"):
        form_recovery_rate("linear", {"a": 0.0, "b": 2.0}, 5, 0.0, (1.0, 10.0), 3, 0, n_problems=9)
