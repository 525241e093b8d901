"""``device=``: the spelling checked at the boundary, each backend's resolution, and the device
path of models, trainers and analyzers run through the same code on the CPU (``device="cpu"``
explicitly, and in JAX on a second host device, where every array must follow the model)."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rnnflow
from rnnflow import analysis
from rnnflow.config import LSTMConfig, RNNConfig, TransformerConfig
from rnnflow.devices import check_device
from rnnflow.training import TrainConfig

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
import rnnflow.jax as rj      # noqa: E402
import rnnflow.torch as rt    # noqa: E402

BACKENDS = {"torch": rt, "jax": rj}
CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("value, normal", [
    (None, None), ("cpu", "cpu"), ("CPU", "cpu"), ("auto", "auto"), ("cuda", "cuda"), ("gpu", "cuda"),
    ("cuda:1", "cuda:1"), ("gpu:0", "cuda:0"), (" cuda:02 ", "cuda:2")])
def test_device_spellings_have_one_normal_form(value, normal):
    assert check_device("owner", value) == normal


@pytest.mark.parametrize("value", ["tpu", "cuda:", "cuda:-1", "cpu:1", "auto:0", "", 0, ["cpu"], "cuda:x"])
def test_a_bad_device_names_the_field_the_value_and_the_choices(value):
    with pytest.raises(ValueError) as e:
        check_device("build", value)
    msg = str(e.value)
    assert msg.startswith("build: device=") and repr(value) in msg and "cuda:N" in msg and "auto" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_cpu_and_auto_resolve_to_the_host_without_a_gpu(backend):
    if CUDA:
        pytest.skip("a GPU is visible")
    ops = BACKENDS[backend].arrays
    assert ops.device(None) is None
    for spec in ("cpu", "auto"):
        dev = ops.device(spec)
        assert (dev.type if backend == "torch" else dev.platform) == "cpu"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", ["cuda", "cuda:3"])
def test_a_gpu_the_backend_cannot_see_is_an_error_not_a_silent_cpu(backend, spec):
    if CUDA:
        pytest.skip("a GPU is visible")
    with pytest.raises(ValueError, match=rf"device='{spec}' is unavailable: {backend} sees 0"):
        BACKENDS[backend].build(RNNConfig(input_size=2, hidden_size=3), device=spec)


def test_torch_place_copies_a_module_that_lives_elsewhere_and_never_moves_the_callers():
    m = rt.build(RNNConfig(input_size=2, hidden_size=3))
    ops = rt.arrays
    assert ops.place(m, ops.device("cpu")) is m and ops.place(m, None) is m
    moved = ops.place(m, torch.device("meta"))           # a second device torch has everywhere
    assert moved is not m and ops.device_of(moved).type == "meta"
    assert ops.device_of(m).type == "cpu" and all(p.device.type == "cpu" for p in m.parameters())


def test_jax_place_commits_a_copy_and_leaves_the_callers_arrays():
    m = rj.build(RNNConfig(input_size=2, hidden_size=3))
    ops = rj.arrays
    assert ops.device_of(m) is None                      # uncommitted: follows the other arrays
    placed = ops.place(m, ops.device("cpu"))
    assert placed is not m and ops.device_of(placed).platform == "cpu" and ops.device_of(m) is None
    np.testing.assert_array_equal(rj.export_params(placed)["layers"][0]["weight_hh"],
                                  rj.export_params(m)["layers"][0]["weight_hh"])


def _data(step, rng):
    return rng.standard_normal((6, 4, 2)).astype("float32"), rng.standard_normal((4, 1)).astype("float32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_on_an_explicit_device_gives_the_default_runs_numbers_and_records_it(backend, tmp_path):
    cfg = LSTMConfig(input_size=2, hidden_size=8, output_size=1)
    tc = TrainConfig(steps=6, batch_size=4, clip="norm", clip_value=0.5)
    base = rnnflow.train(cfg, None, _data, tc, backend=backend, progress=False)
    on = rnnflow.train(cfg, None, _data, tc, backend=backend, progress=False, device="cpu",
                       out_dir=str(tmp_path / "run"))
    np.testing.assert_array_equal(base.metrics.loss, on.metrics.loss)
    np.testing.assert_array_equal(base.metrics.grad_norm, on.metrics.grad_norm)
    for a, b in zip(rnnflow.params.flatten(base.params).values(), rnnflow.params.flatten(on.params).values()):
        np.testing.assert_array_equal(a, b)
    with open(tmp_path / "run" / "summary.json") as f:
        assert json.load(f)["device"] == "cpu"


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_on_a_missing_gpu_fails_before_writing_a_folder(backend, tmp_path):
    if CUDA:
        pytest.skip("a GPU is visible")
    with pytest.raises(ValueError, match="unavailable"):
        rnnflow.train(RNNConfig(input_size=2, hidden_size=3, output_size=1), None, _data,
                      TrainConfig(steps=2, batch_size=4), backend=backend, progress=False, device="cuda",
                      out_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"train: device='tpu' is invalid"):
        rnnflow.train(RNNConfig(input_size=2, hidden_size=3, output_size=1), None, _data,
                      TrainConfig(steps=2, batch_size=4), backend=backend, progress=False, device="tpu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_analyzers_on_an_explicit_device_give_the_same_numbers(backend):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((10, 2, 3)).astype("float32")
    lstm = BACKENDS[backend].build(LSTMConfig(input_size=3, hidden_size=5, output_size=2))
    for fn, field, kw in [(analysis.jacobians_over_time, "log_spectral", {}),
                          (analysis.gradient_reach, "log_norm", {}),
                          (analysis.lyapunov_spectrum, "exponents", {"warmup": 2})]:
        np.testing.assert_array_equal(getattr(fn(lstm, xs, **kw), field),
                                      getattr(fn(lstm, xs, device="cpu", **kw), field), err_msg=fn.__name__)
    tf = BACKENDS[backend].build(TransformerConfig(input_size=3, d_model=8, num_heads=2, num_layers=2,
                                                   output_size=2))
    a = analysis.gradient_through_depth(tf, xs, param_grads=True)
    b = analysis.gradient_through_depth(tf, xs, param_grads=True, device="auto" if not CUDA else "cpu")
    np.testing.assert_array_equal(a.log_grad_norm, b.log_grad_norm)
    with pytest.raises(ValueError, match=r"device='tpu' is invalid"):
        analysis.jacobians_over_time(lstm, xs, device="tpu")


_CHILD = textwrap.dedent("""
    import numpy as np, jax, rnnflow, rnnflow.jax as rj
    from rnnflow import analysis
    from rnnflow.config import LSTMConfig, LRUConfig, TransformerConfig
    from rnnflow.training import TrainConfig
    assert len(jax.devices("cpu")) == 2
    second = jax.devices("cpu")[1]
    rj.arrays.device = lambda spec: None if spec is None else second    # "cpu" -> the second host device
    xs = np.random.default_rng(0).standard_normal((10, 2, 3)).astype("float32")
    out = {}
    for cfg in (LSTMConfig(input_size=3, hidden_size=5, output_size=2), LRUConfig(input_size=3, d_model=4, state_size=6,
                output_size=2)):
        m = rj.build(cfg)
        for fn, field, kw in [(analysis.jacobians_over_time, "log_spectral", {}),
                              (analysis.gradient_reach, "log_norm", {}),
                              (analysis.lyapunov_spectrum, "exponents", {"warmup": 2})]:
            a, b = getattr(fn(m, xs, **kw), field), getattr(fn(m, xs, device="cpu", **kw), field)
            out[f"{type(cfg).__name__}.{fn.__name__}"] = float(np.max(np.abs(a - b)))
        assert rj.arrays.device_of(m) is None            # the caller's model was not moved
    tf = rj.build(TransformerConfig(input_size=3, d_model=8, num_heads=2, num_layers=2, output_size=2))
    a = analysis.gradient_through_depth(tf, xs, param_grads=True).log_grad_norm
    b = analysis.gradient_through_depth(tf, xs, param_grads=True, device="cpu").log_grad_norm
    out["depth"] = float(np.max(np.abs(a - b)))
    def data(step, rng):
        return rng.standard_normal((6, 4, 3)).astype("float32"), rng.standard_normal((4, 2)).astype("float32")
    cfg, tc = LSTMConfig(input_size=3, hidden_size=5, output_size=2), TrainConfig(steps=4, batch_size=4)
    from rnnflow.jax.trainer import Stepper
    st = Stepper(cfg, rnnflow.params.flatten(rnnflow.init_params(cfg, 0)), tc, None, None, device="cpu")
    assert all(next(iter(v.devices())) == second for v in st.trainable.values())
    r0 = rnnflow.train(cfg, None, data, tc, backend="jax", progress=False)
    r1 = rnnflow.train(cfg, None, data, tc, backend="jax", progress=False, device="cpu")
    out["train"] = float(np.max(np.abs(r0.metrics.loss - r1.metrics.loss)))
    print("RESULT", repr(out))
""")


def test_jax_analyzers_and_trainer_follow_the_model_to_a_second_device():
    """Two host devices (XLA's forced device count): ``device=`` commits the model to the
    second one; an array left committed to the first would make JAX refuse the computation,
    and the numbers must be those of the default device."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = eval(r.stdout.split("RESULT", 1)[1])
    assert set(out) >= {"LSTMConfig.jacobians_over_time", "LRUConfig.gradient_reach", "depth", "train"}
    assert max(out.values()) == 0.0, out


def test_a_study_on_an_explicit_device_gives_the_same_numbers_and_says_where_it_ran(tmp_path):
    from rnnflow import studies
    base = studies.run("jacobian_decay", backend="torch", out=str(tmp_path / "a"), progress=False)
    on = studies.run("jacobian_decay", backend="torch", out=str(tmp_path / "b"), progress=False, device="cpu")
    assert on.summary == base.summary
    with open(os.path.join(on.folder, "provenance.json")) as f:
        assert json.load(f)["device"] == "cpu"
    with open(os.path.join(base.folder, "provenance.json")) as f:
        assert json.load(f)["device"] == "default"
    if not CUDA:
        with pytest.raises(ValueError, match="unavailable"):
            studies.run("jacobian_decay", backend="torch", out=str(tmp_path / "c"), progress=False, device="cuda")
        assert not (tmp_path / "c").exists()


def test_the_cli_and_the_sweep_refuse_bad_device_requests_in_one_line(tmp_path, capsys):
    from rnnflow.cli import main
    from rnnflow.sweep import run_sweep
    from rnnflow.sweep.grid import sweep_from
    assert main(["run", "jacobian_decay", "--device", "tpu", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "device='tpu' is invalid" in err
    sweep = sweep_from("jacobian_decay", ["steps=8"], None, None, None)
    with pytest.raises(ValueError, match="gpus_per_cell=1 needs engine='ray'"):
        run_sweep(sweep, out=str(tmp_path), gpus_per_cell=1, progress=False)
    with pytest.raises(ValueError, match="reserves GPUs no cell uses"):
        run_sweep(sweep, out=str(tmp_path), engine="ray", device="cpu", gpus_per_cell=1, progress=False)
    with pytest.raises(ValueError, match="gpus_per_cell=-1 is invalid"):
        run_sweep(sweep, out=str(tmp_path), gpus_per_cell=-1, progress=False)
    if not CUDA:
        with pytest.raises(ValueError, match="unavailable"):
            run_sweep(sweep, out=str(tmp_path), workers=2, device="cuda", progress=False)


def test_torch_scans_sequentially_on_the_cpu_and_in_parallel_elsewhere_unless_told():
    from rnnflow.torch.diagonal import linear_scan, use_parallel
    cpu, meta = torch.zeros(1), torch.zeros(1, device="meta")
    assert use_parallel(None, cpu) is False and use_parallel(None, meta) is True
    assert use_parallel(True, cpu) is True and use_parallel(False, meta) is False
    g = torch.Generator().manual_seed(0)
    a, b, h0 = torch.rand(37, 2, 3, generator=g), torch.randn(37, 2, 3, generator=g), torch.randn(2, 3, generator=g)
    h, ref = linear_scan(a, b, h0), [h0]
    for t in range(37):
        ref.append(a[t] * ref[-1] + b[t])
    torch.testing.assert_close(h, torch.stack(ref[1:]))
    torch.testing.assert_close(linear_scan(a, b, h0, parallel=True), h)
