"""What the docs pages say each study shows, checked at docs scale in both backends.

Slow (about five minutes for all): run by ``make test-slow``. The smoke-scale runs in the
normal suite check that the studies work; these check that the docs' sentences are true of
the numbers the site prints, against theory where there is one (Pascanu's bound, ln 10 for a
classifier that ignores its input, Xiong et al.'s 1/sqrt(L)) rather than against stored outputs.
"""
import math

import numpy as np
import pytest

from rnnflow import studies

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["torch", "jax"])]


@pytest.fixture(scope="module")
def docs_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs-scale")
    cache = {}

    def get(name, backend):
        if (name, backend) not in cache:
            cache[name, backend] = studies.run(name, backend=backend, scale="docs", out=str(out),
                                               progress=False).summary
        return cache[name, backend]
    return get


def test_jacobian_decay_slows_with_rho_and_stays_under_pascanus_bound(docs_run, backend):
    s = docs_run("jacobian_decay", backend)
    rhos = (0.5, 0.9, 1.0, 1.1, 1.5)
    slopes = [s[f"tanh RNN, rho={r:g}"]["slope_log10_per_step"] for r in rhos]
    assert all(a < b for a, b in zip(slopes, slopes[1:])), slopes
    T = studies.get("jacobian_decay").SCALES["docs"].steps  # the largest gap, dh_T/dh_0
    for r in rhos:  # ||dh_T/dh_t|| <= (gamma sigma_max)^(T-t), gamma = 1 for tanh
        row = s[f"tanh RNN, rho={r:g}"]
        assert row["log10_norm_at_max_gap"] <= T * math.log10(row["sigma_max"]) + 1e-9, r
    assert s["tanh RNN, rho=0.5"]["pascanu_verdict"] == "vanishing"
    assert s["LSTM, forget bias 1"]["slope_log10_per_step"] > s["LSTM"]["slope_log10_per_step"]


def test_tanh_vs_weights_blames_tanh_for_vanishing_and_w_for_exploding(docs_run, backend):
    s = docs_run("tanh_vs_weights", backend)
    van, exp = s["vanishing"], s["exploding"]
    assert van["log10_activation_factor_mean"] < van["log10_weight_power"] - 10
    assert van["log10_measured"] < van["log10_weight_power"] - 10
    assert exp["log10_activation_factor_mean"] > -1e-3                     # tanh' ~ 1 near h = 0
    assert exp["log10_measured"] == pytest.approx(exp["log10_weight_power"], abs=0.05)
    assert exp["log10_measured"] > 5


def test_clipping_prevents_divergence_and_cliff_jumps(docs_run, backend):
    s = docs_run("clipping", backend)
    assert s["none"]["diverged"] >= 1
    assert s["norm"]["diverged"] == s["value"]["diverged"] == 0
    assert s["norm"]["max_grad_norm_after_clipping"] <= s["settings"]["clip_norm"] * (1 + 1e-6)
    cliff = s["cliff"]
    clipped, unclipped = cliff["norm clipping (c = 1)"], cliff["no clipping"]
    assert clipped["max_step"] <= cliff["lr"] * 1.0 * (1 + 1e-9) < unclipped["max_step"]
    assert clipped["final_error"] < 1e-4 < unclipped["final_error"]


def test_init_stall_sits_at_ln10_and_every_fix_learns(docs_run, backend):
    s = docs_run("init_stall", backend)
    bad = s["N(1,1), sigmoid"]
    assert bad["stalled"] and bad["median_grad_norm_first_layer"] == 0.0
    assert bad["loss_final_epoch"] == pytest.approx(math.log(10), abs=0.02)
    for fix in ("Xavier, sigmoid", "He, ReLU", "N(1,1), sigmoid + BN"):
        assert not s[fix]["stalled"] and s[fix]["loss_final_epoch"] < math.log(10) / 4, fix


def test_sigmoid_starves_the_first_layer(docs_run, backend):
    s = docs_run("activations", backend)
    others = [k for k in s if k != "Sigmoid"]
    assert len(others) == 5
    ratio = s["Sigmoid"]["grad_ratio_first_over_last_median"]
    assert ratio < min(s[k]["grad_ratio_first_over_last_median"] for k in others) / 3
    assert s["Sigmoid"]["final_loss"] > max(s[k]["final_loss"] for k in others)


def test_layernorm_keeps_depth_trainable_and_pre_ln_scales_like_inverse_sqrt_depth(docs_run, backend):
    s = docs_run("transformer_depth", backend)
    depths = (6, 12, 24, 48)
    assert s["residual, no LayerNorm, L=48"]["log10_ratio_first_over_last"] > 8
    for label in ("post-LN", "pre-LN"):
        for d in depths:
            assert abs(s[f"{label}, L={d}"]["log10_ratio_first_over_last"]) < 2, (label, d)

    def exponent(label):
        w = [s[f"{label}, L={d}"]["log10_weight_grad_last"] for d in depths]
        return np.polyfit(np.log10(depths), w, 1)[0]
    assert -0.9 < exponent("pre-LN") < -0.3          # Xiong et al.: O(1/sqrt(L))
    assert abs(exponent("post-LN")) < 0.15           # flat in depth


def test_chaos_sets_in_near_g_one_follows_mean_field_and_collapses_in_size(docs_run, backend):
    s = docs_run("chaos", backend)
    tr = s["transition"]
    assert 0.9 < tr["crossing_g"] < 1.3 and tr["chaotic_from_g"] <= 1.5
    assert tr["max_abs_direct_minus_qr_in_stderrs"] < 3          # the two estimates agree
    for g in (1.5, 2.0, 2.5, 3.0, 4.0):                           # finite N: below mean field, by < 0.03
        row = s[f"N=200, g={g:g}"]
        assert -0.03 < row["lambda_max"] - row["mean_field_lambda_max"] < 0.005, g
    for g in (0.5, 0.75):                                         # the origin: ln|eig_max W| > ln g
        assert s[f"N=200, g={g:g}"]["lambda_max"] > math.log(g)
    for g in (2, 4):                                              # D_KY / N does not depend on N
        d = [s[f"N={N}, g={g}"]["kaplan_yorke_per_N"] for N in (100, 200, 400)]
        assert max(d) - min(d) < 0.02 and 0.2 < min(d), (g, d)


def test_copy_spectra_lstm_reaches_the_edge_the_tanh_rnn_stays_below_it(docs_run, backend):
    s = docs_run("copy_spectra", backend)
    rnn, lstm = s["tanh RNN"], s["LSTM"]
    for row in (rnn, lstm):                                       # orthogonal init: all on the unit circle
        for m, v in row.items():
            if m.startswith("layers."):
                assert v["spectral_radius_init"] == pytest.approx(1.0, abs=1e-5)
                assert v["outside_unit_circle_init"] == 0 and v["outside_unit_circle_final"] >= 20, m
                assert v["spectral_radius_final"] > 1.4 and v["sigma_max_final"] > 3.5, m
    assert rnn["lambda_max_init"] < -0.05 and lstm["lambda_max_init"] < -0.05
    assert rnn["lambda_max_final"] < 0 < lstm["lambda_max_final"] < 0.1
    assert rnn["lambda_max_highest"] < 0.01                      # at or below the edge throughout
    assert lstm["copy_accuracy"] > 0.5 and s["chance_accuracy"] < rnn["copy_accuracy"] < 0.4
    assert lstm["final_loss"] < 0.5 * s["baseline_loss"] and rnn["final_loss"] < s["baseline_loss"]


def test_unit_circle_reach_training_and_copy_as_the_page_says(docs_run, backend):
    s = docs_run("unit_circle", backend)
    gaps = {a: s[a]["gap_below_1e-6"] for a in ("GRU", "tanh RNN", "LSTM", "minGRU", "LRU r_min=0")}
    assert gaps == {"GRU": 51, "tanh RNN": 223, "LSTM": 282, "minGRU": 35, "LRU r_min=0": 5763}
    for r in ("0.9", "0.99", "0.999"):
        assert s[f"LRU r_min={r}"]["gap_below_1e-6"] is None
        assert -5.5 <= s[f"LRU r_min={r}"]["log10_norm_at_longest_gap"] <= -2.1
    assert s["selective SSM"]["gap_below_1e-6"] is None
    assert s["selective SSM"]["log10_norm_at_longest_gap"] == pytest.approx(-4.7, abs=0.05)
    longest = {a: s[a]["longest_T_solved"] for a in studies.get("unit_circle").LR}
    assert longest["LRU r_min=0.99"] == longest["LRU r_min=0.999"] == 100
    assert longest["GRU"] == 50 and longest["LSTM"] == (50 if backend == "jax" else None)
    for a in ("tanh RNN", "LRU r_min=0", "LRU r_min=0.9", "minGRU", "selective SSM"):
        assert longest[a] is None, a
    assert abs(s["ssm_decay"]["mean_rate_at_marks"] - s["ssm_decay"]["mean_rate_elsewhere"]) < 1e-3
    copy = s["copy"]
    for a, row in copy.items():
        if a == "criterion":
            continue
        if a.startswith("LRU"):
            assert row["longest_T_solved"] == 50 and min(row["T=20"]["accuracy"], row["T=50"]["accuracy"]) >= 0.99, a
        else:
            assert row["longest_T_solved"] is None and row["T=20"]["accuracy"] < 0.4, a
    assert copy["LSTM"]["T=50"]["accuracy"] < copy["criterion"]["chance_accuracy"]
