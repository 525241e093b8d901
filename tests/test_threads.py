"""Threads by problem size (:mod:`rnnflow.analysis.threads`): the rule, the override, and that
the analyzers run their step on the chosen count and give the caller's counts back."""
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from rnnflow import analysis
from rnnflow.analysis.threads import GEMM_MIN_N, check_threads, choose_threads

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("n, gemm, threads, expected", [
    (128, True, None, 1), (GEMM_MIN_N - 1, True, None, 1), (GEMM_MIN_N, True, None, None),
    (4096, False, None, 1), (128, False, 3, 3), (4096, True, 2, 2)])
def test_small_or_lapack_bound_work_is_pinned_to_one_thread_else_left_to_the_caller(n, gemm, threads, expected):
    assert choose_threads(n, gemm, threads) == expected


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_a_bad_thread_count_names_the_field(bad):
    with pytest.raises(ValueError, match=rf"jacobians_over_time: threads={bad!r} is invalid: expected an integer >= 1"):
        check_threads("jacobians_over_time", bad)
    with pytest.raises(ValueError, match="threads="):
        analysis.jacobians_over_time(lambda h, x: h, np.zeros((2, 1, 1)), np.zeros((1, 1)), threads=bad)


def _blas_threads():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


def _recording_step(N, seen):
    w = torch.eye(N, dtype=torch.float64) * 0.5

    def step(h, x):
        seen.append((torch.get_num_threads(), _blas_threads()))
        return torch.tanh(h @ w + x.sum(-1, keepdim=True))
    return step


@pytest.mark.parametrize("N, spectral, threads, inside", [
    (8, "exact", None, 1),                  # small: one thread
    (GEMM_MIN_N, "exact", None, 1),         # LAPACK-bound: one thread at any size
    (GEMM_MIN_N, "none", None, 2),          # a large GEMM-bound product: the caller's two
    (8, "exact", 2, 2),                     # the override
])
def test_the_analyzer_computes_on_the_chosen_count_and_restores_the_callers(N, spectral, threads, inside):
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        before = _blas_threads()
        seen = []
        xs, h0 = np.zeros((2, 1, 1)), torch.zeros(1, N, dtype=torch.float64) + 0.1
        r = analysis.jacobians_over_time(_recording_step(N, seen), xs, h0, spectral=spectral, threads=threads)
        assert np.isfinite(r.log_frobenius).all() and seen
        assert {t for t, _ in seen} == {inside}
        if inside == 1 and before:
            assert {tuple(b) for _, b in seen} == {(1,)}
        assert torch.get_num_threads() == 2 and _blas_threads() == before
    finally:
        torch.set_num_threads(old)
