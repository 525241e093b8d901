"""The monitor's spectrum record: where the recurrence's eigenvalues and Lyapunov exponents go
during training (framework-free core; the backends only run the probe).

Every ``every``-th monitor epoch (and once before the first step), from the parameters at
that moment, per recurrent layer ``l``:

* the eigenvalues of "the recurrent matrix", sorted by ``|lambda|`` descending, then by phase,
  its spectral radius ``max |lambda|`` and its largest singular value ``sigma_max``:

  ======================  ===================================================================
  RNN                     ``W_hh`` (H, H) of ``h' = phi(W_ih x + W_hh h + b)``: one matrix per
                          layer
  LSTM, GRU               each gate's (H, H) block of ``weight_hh``: LSTM ``i, f, g, o``, GRU
                          ``r, z, n`` (the gates' pre-activations' dependence on ``h``; the
                          candidate ``g`` / ``n`` is the block that plays ``W_hh``'s part)
  LRU                     the complex ``lambda = exp(-exp(nu_log) + i exp(theta_log))`` (N,):
                          the state Jacobian is ``diag(lambda)``, so ``sigma_max = max |lambda|``
  minGRU, minLSTM, SSM    the decay ``a_t`` depends on the input, so there is no fixed matrix:
                          the effective ``lambda = exp(mean_{t > warmup, b} log |a_t|)`` (S,)
                          per state coordinate on the probe batch (its log is the coordinate's
                          Lyapunov exponent)
  ======================  ===================================================================

* the top-``k`` Lyapunov exponents (:func:`rnnflow.analysis.lyapunov_spectrum`, QR method;
  exact time averages of ``log |a_t|`` for a diagonal model) of each layer, driven by a fixed
  probe batch: ``probe_batch`` sequences of the training data, drawn once
  (:func:`probe_inputs`: ``data_fn(0, default_rng([seed, PROBE_TAG]))``, not a training batch),
  from ``h_0 = 0``, the first ``warmup`` steps only aligning the basis. The same probe and the
  same initial basis (seed ``seed``) at every record, so a change is the parameters' doing.

The recurrent matrices' spectra are NumPy on the host (O(L H^3) per record). The Lyapunov
exponents run the probe through the model in the monitor's backend, O(T B k N^2) for a dense
cell (LSTM: ``N = 2H``). :class:`SpectrumHistory` holds the records; the monitor keeps them
with its gradient history (``gradients.npz``, under ``spectrum/``), in its checkpoints (a
resumed run continues the same records) and in ``TrainResult.gradients.spectrum``.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np

from ..config import DIAGONAL_CONFIGS, GRUConfig, LRUConfig, LSTMConfig, RNNConfig
from ..params import flatten
from ..validation import check_int, fail

PROBE_TAG = 2**62 + 0x5EC7   # the probe batch's rng is default_rng([seed, PROBE_TAG]), a step no run reaches
GATES = {RNNConfig: ("",), LSTMConfig: ("i", "f", "g", "o"), GRUConfig: ("r", "z", "n")}


@dataclass(frozen=True)
class SpectrumSettings:
    """What the monitor's spectrum record does (``GradientMonitor(spectrum=SpectrumSettings(...))``;
    ``spectrum=True`` takes these defaults). See :mod:`rnnflow.training.spectrum`."""

    every: int = 1                   # a record after every `every`-th monitor epoch (and one at the start)
    k: int = 4                       # top-k Lyapunov exponents per layer (0: none, only the matrices)
    probe_batch: int = 2             # sequences in the fixed probe batch (cost: linear in it)
    probe_length: int | None = None  # steps of each probe sequence (None: the data's own length)
    warmup: int | None = None        # leading probe steps that only align the basis (None: a fifth)
    seed: int = 0                    # seed of the probe batch and of the QR's initial basis

    def __post_init__(self):
        c = "SpectrumSettings"
        check_int(c, "every", self.every)
        check_int(c, "k", self.k, lo=0)
        check_int(c, "probe_batch", self.probe_batch)
        if self.probe_length is not None:
            check_int(c, "probe_length", self.probe_length, lo=2)
        if self.warmup is not None:
            check_int(c, "warmup", self.warmup, lo=0)
            if self.probe_length is not None and self.warmup >= self.probe_length:
                fail(c, "warmup", self.warmup, f"an integer in [0, probe_length={self.probe_length})")
        check_int(c, "seed", self.seed, lo=0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def as_settings(spectrum) -> SpectrumSettings | None:
    """``GradientMonitor(spectrum=...)``: None or False (no record), True (the defaults) or a
    :class:`SpectrumSettings`."""
    if spectrum is None or spectrum is False:
        return None
    if spectrum is True:
        return SpectrumSettings()
    if not isinstance(spectrum, SpectrumSettings):
        fail("GradientMonitor", "spectrum", spectrum, "None, True (the default SpectrumSettings()) or a "
             "rnnflow.training.SpectrumSettings")
    return spectrum


def state_size(config) -> int:
    """N, the real state of one layer the Lyapunov exponents live in (LSTM ``(h, c)``: 2H)."""
    if isinstance(config, DIAGONAL_CONFIGS):
        return config.state_width
    return 2 * config.hidden_size if isinstance(config, LSTMConfig) else config.hidden_size


def matrix_names(config) -> tuple[str, ...]:
    """The names of the recorded matrices: ``layers.0.weight_hh`` (RNN), ``layers.0.weight_hh.g``
    (a gate block), ``layers.0.lambda`` (diagonal)."""
    L = config.num_layers
    if isinstance(config, DIAGONAL_CONFIGS):
        return tuple(f"layers.{l}.lambda" for l in range(L))
    return tuple(f"layers.{l}.weight_hh" + (f".{g}" if g else "") for l in range(L) for g in GATES[type(config)])


def probe_inputs(data_fn, settings: SpectrumSettings, dtype) -> np.ndarray:
    """The fixed probe batch ``(T, probe_batch, I)`` from ``data_fn(0, default_rng([seed, PROBE_TAG]))``
    (its first examples and, with ``probe_length``, its first steps), cast to ``dtype``."""
    x = np.asarray(data_fn(0, np.random.default_rng([settings.seed, PROBE_TAG]))[0])
    if x.ndim != 3:
        raise ValueError(f"the spectrum's probe needs sequences (T, B, I) from data_fn, got shape {x.shape}")
    T, B = x.shape[:2]
    if settings.probe_batch > B:
        fail("SpectrumSettings", "probe_batch", settings.probe_batch, f"at most the data's batch size B={B}")
    if settings.probe_length is not None:
        if settings.probe_length > T:
            fail("SpectrumSettings", "probe_length", settings.probe_length,
                 f"None or at most the data's sequence length T={T}")
        T = settings.probe_length
    return np.ascontiguousarray(x[:T, :settings.probe_batch]).astype(dtype)


def sort_eigenvalues(lam: np.ndarray) -> np.ndarray:
    """``lam`` sorted by ``|lambda|`` descending, then by phase ascending (a stable order to
    compare records by)."""
    lam = np.asarray(lam, np.complex128)
    return lam[np.lexsort((np.angle(lam), -np.abs(lam)))]


def matrix_spectra(config, params) -> list[tuple[np.ndarray, float]] | None:
    """``[(eigenvalues (n,) complex, sigma_max)]`` per matrix of :func:`matrix_names` from the
    NumPy schema ``params``; None for a diagonal model other than the LRU (its lambda comes
    from the probe)."""
    flat = {k: np.asarray(v, np.float64) for k, v in flatten(params).items()}
    out = []
    for l in range(config.num_layers):
        if isinstance(config, LRUConfig):
            nu, th = flat[f"layers.{l}.nu_log"], flat[f"layers.{l}.theta_log"]
            lam = np.exp(-np.exp(nu) + 1j * np.exp(th))
            out.append((sort_eigenvalues(lam), float(np.abs(lam).max())))
        elif isinstance(config, DIAGONAL_CONFIGS):
            return None
        else:
            W, H = flat[f"layers.{l}.weight_hh"], config.hidden_size         # (G H, H)
            for j in range(len(GATES[type(config)])):
                block = W[j * H:(j + 1) * H]                                   # (H, H)
                out.append((sort_eigenvalues(np.linalg.eigvals(block)),
                            float(np.linalg.svd(block, compute_uv=False)[0])))
    return out


@dataclass(frozen=True)
class SpectrumHistory:
    """The spectrum records (R records, M matrices of n eigenvalues, L layers, P probe examples,
    k exponents).

    Attributes:
        matrices:        (M,) names (:func:`matrix_names`)
        epoch:           (R,) int64 monitor epochs done at the record (0: before training)
        iteration:       (R,) int64 iterations recorded before it (steps done, in ``train``)
        eigenvalues:     (R, M, n) complex128, each matrix's sorted eigenvalues
        spectral_radius: (R, M) ``max |lambda|``
        sigma_max:       (R, M) largest singular value
        lyapunov:        (R, L, P, k) top-k Lyapunov exponents per layer and probe example
                         (natural log, per step; k = 0: none)
        settings:        the :class:`SpectrumSettings` as a dict
        probe_sha256:    digest of the probe inputs (a resumed run checks it is the same)
    """

    matrices: tuple[str, ...]
    epoch: np.ndarray
    iteration: np.ndarray
    eigenvalues: np.ndarray
    spectral_radius: np.ndarray
    sigma_max: np.ndarray
    lyapunov: np.ndarray
    settings: dict
    probe_sha256: str = ""

    @property
    def lambda_max(self) -> np.ndarray:
        """(R, L) the largest Lyapunov exponent, mean over the probe examples (NaN with k = 0)."""
        if self.lyapunov.shape[-1] == 0:
            return np.full(self.lyapunov.shape[:2], np.nan)
        return self.lyapunov[..., 0].mean(axis=-1)

    def csv_text(self) -> str:
        """Long format ``epoch,iteration,name,quantity,value``: per record each matrix's
        ``spectral_radius`` and ``sigma_max``, and each layer's (``layers.l``) Lyapunov exponents
        ``lyapunov_1..k``, the mean over the probe examples (the eigenvalues are in the npz)."""
        lines = ["epoch,iteration,name,quantity,value"]
        mean = self.lyapunov.mean(axis=2) if self.lyapunov.size else self.lyapunov[:, :, 0]   # (R, L, k)
        for r in range(len(self.epoch)):
            head = f"{int(self.epoch[r])},{int(self.iteration[r])}"
            for j, m in enumerate(self.matrices):
                lines.append(f"{head},{m},spectral_radius,{float(self.spectral_radius[r, j])!r}")
                lines.append(f"{head},{m},sigma_max,{float(self.sigma_max[r, j])!r}")
            for layer in range(mean.shape[1]):
                for i in range(mean.shape[2]):
                    lines.append(f"{head},layers.{layer},lyapunov_{i + 1},{float(mean[r, layer, i])!r}")
        return "\n".join(lines) + "\n"

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {name: getattr(self, name) for name in _ARRAYS}
        out["matrices"] = np.array(self.matrices, dtype=str)
        out["settings"] = np.array(repr(sorted(self.settings.items())))
        out["probe_sha256"] = np.array(self.probe_sha256)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "SpectrumHistory":
        import ast
        return cls(matrices=tuple(str(m) for m in np.asarray(arrays["matrices"])),
                   settings=dict(ast.literal_eval(str(arrays["settings"]))),
                   probe_sha256=str(arrays["probe_sha256"]),
                   **{name: np.asarray(arrays[name]) for name in _ARRAYS})


_ARRAYS = ("epoch", "iteration", "eigenvalues", "spectral_radius", "sigma_max", "lyapunov")


class SpectrumRecorder:
    """Takes the spectrum records for a monitor (see the module docstring). ``bind(config,
    probe, backend)`` before the first record; ``record(params, epoch, iteration)`` takes one."""

    def __init__(self, settings: SpectrumSettings):
        self.settings = settings
        self.config = None
        self.probe: np.ndarray | None = None
        self.backend: str | None = None
        self.probe_sha256 = ""
        self.warmup = 0
        self._matrices: tuple[str, ...] = ()   # the names of records loaded before bind
        self._records: list[tuple] = []

    def bind(self, config, probe, backend: str) -> None:
        """Fix the model config, the probe inputs ``(T, P, I)`` and the backend; checks ``k``
        against the state size and ``warmup`` against ``T``, naming the field."""
        c, s = "SpectrumSettings", self.settings
        if not isinstance(config, tuple(GATES) + DIAGONAL_CONFIGS):
            raise TypeError(f"the monitor's spectrum record needs a recurrent model (RNN, LSTM, GRU or a diagonal "
                            f"recurrence), got {type(config).__name__}: use GradientMonitor(spectrum=None)")
        N = state_size(config)
        if s.k > N:
            fail(c, "k", s.k, f"an integer in [0, N={N}], the state size of a layer of this "
                 f"{type(config).__name__}" + (" (h and c: 2H)" if isinstance(config, LSTMConfig) else ""))
        probe = np.ascontiguousarray(probe)
        if probe.ndim != 3:
            raise ValueError(f"the spectrum's probe must be (T, B, I), got shape {probe.shape}")
        T = probe.shape[0]
        warmup = T // 5 if s.warmup is None else s.warmup
        if warmup >= T:
            fail(c, "warmup", s.warmup, f"None or an integer in [0, T={T}) (the probe's length)")
        digest = hashlib.sha256(f"{probe.dtype.str}|{probe.shape}|".encode() + probe.tobytes()).hexdigest()
        if self._records and self.probe_sha256 and digest != self.probe_sha256:
            raise ValueError("the spectrum's probe batch differs from the one its records were taken on "
                             "(another data_fn or SpectrumSettings.seed?)")
        self.config, self.probe, self.backend, self.warmup, self.probe_sha256 = config, probe, backend, warmup, digest

    def record(self, params, epoch: int, iteration: int) -> None:
        """One record from the NumPy schema ``params`` (flat or nested)."""
        if self.config is None:
            raise RuntimeError("the monitor's spectrum record needs bind_model(model_config, probe) first "
                               "(rnnflow.train does it)")
        from ..analysis.lyapunov import lyapunov_spectrum
        from ..models import build
        from ..params import unflatten
        cfg, s = self.config, self.settings
        nested = unflatten(flatten(params), cfg)
        spectra = matrix_spectra(cfg, nested)
        model = build(cfg, nested, backend=self.backend) if s.k or spectra is None else None
        if spectra is None:
            spectra = self._probe_decay(model)
        lyap = np.zeros((cfg.num_layers, self.probe.shape[1], s.k))
        for l in range(cfg.num_layers if s.k else 0):
            lyap[l] = lyapunov_spectrum(model, self.probe, k=s.k, layer=l, warmup=self.warmup, seed=s.seed,
                                        backend=self.backend).exponents
        eig = np.stack([e for e, _ in spectra])
        self._records.append((int(epoch), int(iteration), eig, np.abs(eig).max(axis=1),
                              np.array([m for _, m in spectra]), lyap))

    def _probe_decay(self, model) -> list[tuple[np.ndarray, float]]:
        """minGRU / minLSTM / SSM: the effective ``lambda = exp(mean log|a_t|)`` per coordinate."""
        from ..analysis.backends import prepare
        from ..analysis.diagonal import log_decay
        m, bk, xs, _ = prepare(model, self.probe, None, backend=self.backend)
        out = []
        for l in range(self.config.num_layers):
            lam = np.exp(log_decay(bk, m, xs, None, l)[self.warmup:].mean(axis=(0, 1))).astype(np.complex128)
            out.append((sort_eigenvalues(lam), float(np.abs(lam).max())))
        return out

    def history(self) -> SpectrumHistory:
        R = len(self._records)
        cfg = self.config
        names = matrix_names(cfg) if cfg is not None else self._matrices
        L = cfg.num_layers if cfg is not None else len({n.split(".")[1] for n in names})
        P = self.probe.shape[1] if self.probe is not None else self.settings.probe_batch

        def stack(i, shape, dtype=np.float64):
            return np.stack([r[i] for r in self._records]) if R else np.zeros(shape, dtype)
        return SpectrumHistory(
            matrices=names, epoch=np.array([r[0] for r in self._records], np.int64),
            iteration=np.array([r[1] for r in self._records], np.int64),
            eigenvalues=stack(2, (0, len(names), 0), np.complex128), spectral_radius=stack(3, (0, len(names))),
            sigma_max=stack(4, (0, len(names))), lyapunov=stack(5, (0, L, P, self.settings.k)),
            settings=self.settings.to_dict(), probe_sha256=self.probe_sha256)

    def load_history(self, h: SpectrumHistory) -> None:
        """Restore the records of :meth:`history` (from a checkpoint); settings must match."""
        if h.settings != self.settings.to_dict():
            raise ValueError(f"saved spectrum settings {h.settings} differ from this monitor's "
                             f"{self.settings.to_dict()}")
        self.probe_sha256, self._matrices = h.probe_sha256, h.matrices
        self._records = [(int(h.epoch[i]), int(h.iteration[i]), h.eigenvalues[i].copy(), h.spectral_radius[i].copy(),
                          h.sigma_max[i].copy(), h.lyapunov[i].copy()) for i in range(len(h.epoch))]


__all__ = ["SpectrumSettings", "SpectrumHistory", "SpectrumRecorder", "probe_inputs", "matrix_names",
           "matrix_spectra", "state_size", "PROBE_TAG"]
