"""Tests for scaling_debate.published and scaling_debate.units.

The shipped tables must pass every rule and agree with the arithmetic the papers print
(PF-days against FLOPs, 6ND, exponents summing to one). Each rule is also broken on
purpose, in a small table written to a temporary directory, and must be caught.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling_debate import published
from scaling_debate.published import PublishedDataError
from scaling_debate.units import PF_DAY_FLOPS, flops_to_pf_days, nats_to_bits, pf_days_to_flops

OUR_TABLES = {
    "gpt3_model_sizes",
    "gpt3_training_compute",
    "gpt3_arithmetic_fewshot",
    "llama_models",
    "chinchilla_fits",
    "allocation_exponents",
    "kaplan_constants",
    "flagship_models",
    "muennighoff2023_fit",
    "llama_pretraining_data",
    "massivetext_chinchilla",
    "gpt3_training_data",
    "orhan_claims",
}


def write_table(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.csv"
    path.write_text(text)
    return path


GOOD_WIDE = (
    "model,n_params,loss_nats,source,note\n"
    "small,1e6,3.5,Paper A Table 1,\n"
    "big,1e9,,Paper A Table 1,not reported\n"
)
GOOD_LONG = (
    "quantity,value,standard_error,unit,source\n"
    "E,1.5,0.1,nats,Paper B eq. 2\n"
    "alpha,0.3,,dimensionless,Paper B eq. 2\n"
)


# ---------------------------------------------------------------- the shipped tables


def test_the_tables_of_this_module_are_shipped():
    assert set(published.available()) >= OUR_TABLES


@pytest.mark.parametrize("name", published.available())
def test_every_shipped_table_passes_every_rule(name):
    table = published.load(name)
    assert len(table) > 0
    assert all(source.strip() for source in published.source_of(name))


def test_gpt3_pf_days_and_flops_agree_up_to_printed_rounding():
    table = published.load("gpt3_training_compute")
    from_pf_days = pf_days_to_flops(table["total_compute_pf_days"].to_numpy())
    np.testing.assert_allclose(from_pf_days, table["total_compute_flops"], rtol=0.005)


def test_gpt3_compute_is_six_flops_per_parameter_per_token():
    table = published.load("gpt3_training_compute")
    six_nd = (
        table["flops_per_param_per_token_dimensionless"] * table["n_params"] * table["train_tokens"]
    )
    np.testing.assert_allclose(six_nd, table["total_compute_flops"], rtol=0.005)


def test_gpt3_shapes_are_consistent_except_the_two_documented_misprints():
    table = published.load("gpt3_model_sizes")
    heads_times_width = table["n_heads_count"] * table["d_head_count"]
    mismatch = table[heads_times_width != table["d_model_count"]]
    assert list(mismatch["model"]) == ["GPT-3 XL", "GPT-3 13B"]
    for product, note in zip(heads_times_width[mismatch.index], mismatch["note"], strict=True):
        assert f"{product:.0f}" in note


def test_gpt3_arithmetic_has_one_accuracy_per_model_and_task():
    table = published.load("gpt3_arithmetic_fewshot")
    assert len(table) == 8 * 10
    assert not table.duplicated(["model", "task"]).any()
    assert table["accuracy_pct"].between(0, 100).all()
    models = published.load("gpt3_model_sizes")[["model", "n_params"]]
    joined = table.merge(models, on="model", suffixes=("", "_sizes"))
    assert len(joined) == len(table)
    assert (joined["n_params"] == joined["n_params_sizes"]).all()


def test_allocation_exponents_sum_to_one():
    table = published.load("allocation_exponents")
    np.testing.assert_allclose(table["a_dimensionless"] + table["b_dimensionless"], 1.0)


def test_chinchilla_and_gopher_share_a_compute_budget():
    table = published.load("flagship_models").set_index("model")
    assert (
        table.loc["Chinchilla", "train_compute_flops"] == table.loc["Gopher", "train_compute_flops"]
    )
    assert table.loc["Llama 3 8B", "train_tokens"] / table.loc["Llama 3 8B", "n_params"] == 1875


def test_llama_gpu_hours_grow_with_model_size():
    table = published.load("llama_models").sort_values("n_params")
    assert table["train_gpu_hours"].is_monotonic_increasing


# ---------------------------------------------------------------- constant() and source_of()


def test_constant_reads_one_fit_by_keyword():
    assert published.constant("chinchilla_fits", "E", fit="hoffmann_rounded") == 1.69
    assert published.constant("chinchilla_fits", "beta", fit="epoch") == 0.36585


def test_unrounded_constants_match_their_log_form():
    e = published.constant("chinchilla_fits", "E", fit="hoffmann_unrounded")
    a = published.constant("chinchilla_fits", "A", fit="hoffmann_unrounded")
    assert e == pytest.approx(math.exp(0.5267228), rel=1e-9)
    assert a == pytest.approx(math.exp(6.0073404), rel=1e-9)


def test_ambiguous_constant_names_the_column_to_filter_on():
    with pytest.raises(ValueError, match=r"fit=.*epoch"):
        published.constant("chinchilla_fits", "E")


def test_unknown_constant_lists_the_quantities():
    with pytest.raises(ValueError, match=r"'gamma'.*alpha"):
        published.constant("chinchilla_fits", "gamma", fit="epoch")


def test_constant_refuses_a_wide_table():
    with pytest.raises(ValueError, match=r"not a long-format table.*kaplan_constants"):
        published.constant("gpt3_model_sizes", "n_params")


def test_constant_refuses_an_unknown_filter_column():
    with pytest.raises(ValueError, match="no such column"):
        published.constant("chinchilla_fits", "E", paper="epoch")


def test_kaplan_exponent_and_the_gpt3_compute_law():
    assert published.constant("kaplan_constants", "p_N") == 0.73
    assert published.constant("kaplan_constants", "gpt3_exponent") == -0.048


def test_source_of_lists_each_source_once(tmp_path):
    write_table(tmp_path, "t", "x_count,source\n1,Paper A\n2,Paper B\n3,Paper A\n")
    assert published.source_of("t", tmp_path) == ["Paper A", "Paper B"]


# ---------------------------------------------------------------- loading from a directory


def test_available_lists_csv_stems_sorted(tmp_path):
    write_table(tmp_path, "zeta", GOOD_WIDE)
    write_table(tmp_path, "alpha", GOOD_WIDE)
    (tmp_path / "notes.txt").write_text("not a table")
    assert published.available(tmp_path) == ["alpha", "zeta"]


def test_unknown_table_lists_the_available_ones(tmp_path):
    write_table(tmp_path, "real", GOOD_WIDE)
    with pytest.raises(ValueError, match=r"unknown published table 'fake'.*real"):
        published.load("fake", tmp_path)


def test_numeric_columns_load_as_floats_so_products_cannot_overflow():
    table = published.load("gpt3_training_compute")
    assert all(table[column].dtype == np.float64 for column in ("n_params", "train_tokens"))


def test_empty_cells_mean_not_reported(tmp_path):
    write_table(tmp_path, "wide", GOOD_WIDE)
    write_table(tmp_path, "long", GOOD_LONG)
    wide = published.load("wide", tmp_path)
    assert math.isnan(wide["loss_nats"].iloc[1])
    assert published.constant("long", "alpha", directory=tmp_path) == 0.3


# ---------------------------------------------------------------- each rule, broken on purpose


def rule_broken(tmp_path: Path, text: str) -> PublishedDataError:
    write_table(tmp_path, "bad", text)
    with pytest.raises(PublishedDataError) as caught:
        published.load("bad", tmp_path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.table == "bad"
    return error


def test_missing_source_column(tmp_path):
    error = rule_broken(tmp_path, "model,n_params\nsmall,1e6\n")
    assert error.column == "source"
    assert "missing source column" in error.rule


def test_empty_source_cell(tmp_path):
    error = rule_broken(tmp_path, "n_params,source\n1e6,Paper A\n2e6,  \n3e6,\n")
    assert error.column == "source"
    assert "empty source cell at CSV line(s) 3, 4" in error.rule


def test_numeric_column_without_unit_suffix(tmp_path):
    error = rule_broken(tmp_path, "model,params,source\nsmall,1e6,Paper A\n")
    assert error.column == "params"
    assert "without a unit suffix" in error.rule
    assert "_params" in error.rule


def test_unit_suffixed_column_holding_text(tmp_path):
    error = rule_broken(tmp_path, "model,n_params,source\nsmall,125M,Paper A\n")
    assert error.column == "n_params"
    assert "'125M'" in error.rule


@pytest.mark.parametrize("written", ["inf", "-inf", "nan", "NaN"])
def test_non_finite_number(tmp_path, written):
    error = rule_broken(tmp_path, f"loss_nats,source\n2.5,Paper A\n{written},Paper A\n")
    assert error.column == "loss_nats"
    assert "non-finite number" in error.rule
    assert "CSV line(s) 3" in error.rule


def test_duplicate_rows(tmp_path):
    error = rule_broken(tmp_path, "x_count,source\n1,Paper A\n2,Paper A\n1,Paper A\n")
    assert error.column is None
    assert "duplicate rows at CSV lines 2, 4" in error.rule


def test_long_format_unit_outside_the_vocabulary(tmp_path):
    error = rule_broken(tmp_path, "quantity,value,unit,source\nE,1.5,furlongs,Paper B\n")
    assert error.column == "unit"
    assert "'furlongs'" in error.rule


def test_long_format_needs_quantity_and_value(tmp_path):
    error = rule_broken(tmp_path, "name,value,unit,source\nE,1.5,nats,Paper B\n")
    assert error.column == "quantity"


def test_validate_checks_a_frame_directly():
    frame = pd.DataFrame({"loss": [1.0], "source": ["Paper A"]})
    with pytest.raises(PublishedDataError, match="'loss'"):
        published.validate(frame, "in_memory")


def test_unit_of_reads_the_suffix():
    assert published.unit_of("compute_pf_days") == "pf_days"
    assert published.unit_of("loss_nats") == "nats"
    assert published.unit_of("nats") is None
    assert published.unit_of("model") is None


# ---------------------------------------------------------------- units


def test_pf_day_is_a_petaflop_per_second_for_a_day():
    assert PF_DAY_FLOPS == 8.64e19
    assert pf_days_to_flops(1.0) == 8.64e19
    assert flops_to_pf_days(3.14e23) == pytest.approx(3634.26, rel=1e-5)


def test_conversions_work_elementwise_and_round_trip():
    flops = np.array([2.25e20, 3.14e23])
    np.testing.assert_allclose(pf_days_to_flops(flops_to_pf_days(flops)), flops)


def test_one_nat_is_about_1_44_bits():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert nats_to_bits(1.0) == pytest.approx(1.4427, rel=1e-4)


def test_negative_compute_is_rejected():
    with pytest.raises(ValueError, match=r"pf_days must be non-negative.*-1\.0"):
        pf_days_to_flops(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="flops must be non-negative"):
        flops_to_pf_days(-5.0)


def test_conversions_are_re_exported_by_published():
    assert published.PF_DAY_FLOPS == PF_DAY_FLOPS
    assert published.nats_to_bits is nats_to_bits


def test_pretraining_mixtures_add_up():
    llama = published.load("llama_pretraining_data")
    assert llama["sampling_proportion_pct"].sum() == pytest.approx(100.0)
    chinchilla = published.load("massivetext_chinchilla")
    assert chinchilla["sampling_proportion_pct"].sum() == pytest.approx(100.0)
    assert chinchilla["gopher_sampling_proportion_pct"].sum() == pytest.approx(100.0)
    gpt3 = published.load("gpt3_training_data")
    assert gpt3["weight_pct"].sum() == pytest.approx(101.0)  # printed weights, rounded


def test_massivetext_size_implied_by_chinchillas_epochs_matches_gophers_total():
    """Share x 1.4T / epochs per subset gives MassiveText's size: about 2.35T tokens, the total
    of Rae et al. (2021)'s Table 2 (506 + 560 + 182 + 676 + 422 + 4 billion)."""
    table = published.load("massivetext_chinchilla")
    size = (table["sampling_proportion_pct"] / 100 * 1.4e12 / table["epochs_dimensionless"]).sum()
    assert size == pytest.approx(2.35e12, rel=0.01)


def test_gpt3_printed_epochs_follow_weights_except_the_two_noted_rows():
    table = published.load("gpt3_training_data").set_index("subset")
    implied = table["weight_pct"] / 100 * 300e9 / table["dataset_tokens"]
    off = (implied / table["epochs_at_300b_dimensionless"] - 1).abs() > 0.1
    assert set(table.index[off]) == {"WebText2", "Wikipedia"}
    assert table.loc[off, "note"].str.contains("kept as printed").all()


def test_muennighoff_constants_are_the_exponentials_of_the_printed_logs():
    assert published.constant("muennighoff2023_fit", "A") == pytest.approx(math.exp(6.255414))
    assert published.constant("muennighoff2023_fit", "B") == pytest.approx(math.exp(7.3049974))
    assert published.constant("muennighoff2023_fit", "E") == pytest.approx(math.exp(0.6254804))


def test_epoch_row_is_one_estimator_and_its_exponent_follows():
    epoch = published.load("chinchilla_fits").query("fit == 'epoch'").set_index("quantity")["value"]
    assert epoch["E"] == pytest.approx(1.81686)  # cell 25's maximum-likelihood fit, not cell 18's
    assert epoch["a"] == pytest.approx(epoch["beta"] / (epoch["alpha"] + epoch["beta"]), abs=1e-5)
