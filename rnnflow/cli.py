"""Command-line entry point: ``rnnflow <command>`` (also ``python -m rnnflow``); the help text is
plain (:data:`DESCRIPTION`, :data:`EXAMPLES`), the demo lives in :mod:`rnnflow.demo`."""
from __future__ import annotations

import argparse
import inspect
import os
import sys


DESCRIPTION = """rnnflow measures vanishing and exploding gradients in RNNs, LSTMs, GRUs,
transformers and MLPs, with the same numbers in torch and JAX."""

EXAMPLES = """examples:
  rnnflow demo                         the two flagship answers in numbers, both backends (< 1 min)
  rnnflow list                         the studies and what each shows
  rnnflow run clipping --backend both  one study in torch and jax, side by side
  rnnflow run all --scale docs         every study at the size the docs show
  rnnflow diagnose --model rnn --input-size 4 --spectral-radius 1.5
  rnnflow diagnose runs/my_run         why a saved training run does not train

docs: make docs, then open docs/_build/html/index.html"""


def _demo(args) -> int:
    """Answer the flagship questions in both backends: how fast gradients vanish in a tanh RNN
    vs an LSTM, and what norm clipping does to an exploding RNN. Prints numbers from the run."""
    import time

    from .demo import run_demo
    t0 = time.perf_counter()
    run_demo(seed=args.seed, parity_sizes=dict(batch=args.batch, steps=args.steps, hidden=args.hidden))
    from . import studies
    print("")
    r = studies.run("jacobian_decay", backend="torch", seed=args.seed, scale="smoke", out=args.out, progress=False)
    print("Figures of the vanishing answer (jacobian_decay study, torch, smoke scale"
          + (", reused" if r.reused else f", {r.seconds:.1f} s") + "):")
    for path in r.figures:
        print(f"   {os.path.abspath(path)}")
    print("More: rnnflow run clipping --backend both (the clipping figures), rnnflow list (every study).")
    print("Docs: make docs, then open docs/_build/html/index.html")
    print(f"demo took {time.perf_counter() - t0:.1f} s")
    return 0


def _study_line(name: str) -> str:
    """A study's name and the first line of its module docstring (after ``name:``)."""
    from . import studies
    doc = (studies.get(name).__doc__ or "").strip().splitlines()
    first = doc[0] if doc else ""
    if first.startswith(name) and ":" in first:
        first = first.split(":", 1)[1].strip()
    return _plain(first)


def _plain(text: str) -> str:
    """RST inline markup removed: ``x`` -> x, :func:`y` -> y."""
    import re
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def _list(args) -> int:
    """Print one line per study: its name and what it shows."""
    from .studies import STUDIES
    width = max(len(n) for n in STUDIES)
    for name in STUDIES:
        print(f"{name:<{width}}  {_study_line(name)}")
    return 0


def _run(args) -> int:
    """Run one study (or all) in the chosen backend(s); print the headline numbers as a table
    (--json: as JSON), the figure paths and the results folder."""
    import json
    import time

    from . import studies
    from .overrides import apply_overrides, describe_settings
    names = studies.STUDIES if args.name == "all" else (args.name,)
    if args.set and args.name == "all":
        raise ValueError("run all --set: overrides are a study's own fields: name one study")
    settings = {n: apply_overrides(studies.get(n).SCALES[args.scale], args.set, owner=f"{n}.Settings")
                for n in names}
    if args.show_settings:
        for name in names:
            print(f"{name} settings at scale {args.scale} (change one with --set FIELD=VALUE):")
            for line in describe_settings(settings[name]):
                print(f"  {line}")
        return 0
    backends = ("torch", "jax") if args.backend == "both" else (args.backend,)
    for name in names:
        results = []
        for backend in backends:
            if not args.json:
                print(f"running {name} [{backend}, seed {args.seed}, {args.scale}] (computing and drawing figures)...",
                      flush=True)
            t0 = time.perf_counter()
            r = studies.run(name, backend=backend, seed=args.seed, scale=args.scale, out=args.out,
                            progress=not args.no_progress, force=args.force, settings=settings[name],
                            device=args.device)
            results.append(r)
            if args.json:
                print(json.dumps({"study": name, "backend": backend, "seed": r.seed, "scale": r.scale,
                                  "summary": r.summary, "figures": list(r.figures),
                                  "folder": str(r.folder)}, indent=2, default=str))
                continue
            state = ("loaded (already complete)" if r.reused
                     else f"ran in {r.seconds:.1f} s, {time.perf_counter() - t0:.1f} s with figures")
            print(f"== {name} [{backend}, seed {r.seed}, {r.scale}] {state}")
            print(studies.format_summary(r))
            for path in r.figures:
                print(f"   figure: {path}")
            print(f"   results: {r.folder}/summary.json")
        if len(results) == 2 and not args.json:
            print(studies.compare_summaries(*results))
    return 0


def _sweep(args) -> int:
    """Run a grid of a study's settings x seeds, each cell an ordinary study run (its own
    folder; a re-run loads completed cells and recomputes the rest), and write one table,
    sweep.csv, one row per cell."""
    from .sweep import run_sweep
    from .sweep.grid import load_sweep_file, sweep_from
    data = load_sweep_file(args.file) if args.file else None
    sweep = sweep_from(args.name, args.grid, args.seeds, args.backend, args.scale, data, args.sample, args.random,
                       args.sample_seed)
    folder, rows = run_sweep(sweep, out=args.out, workers=args.workers, engine=args.engine,
                             address=args.address, progress=not args.no_progress, device=args.device,
                             gpus_per_cell=args.gpus_per_cell)
    from .sweep.cell import STATUSES
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    reused = sum(bool(r.get("reused")) for r in rows)
    print(f"sweep {sweep.study}: {len(rows)} cells, " + ", ".join(f"{n} {k}" for k, n in counts.items())
          + f" ({reused} loaded from complete folders)")
    for r in rows:
        if r["status"] != "finished":
            print(f"   {r['status']}: {r['cell']}: {r['error'] or r.get('detail', '')}")
    print(f"   table: {os.path.join(folder, 'sweep.csv')}")
    if args.plot:
        from .io import atomic_write_bytes
        from .plotting.sweep import plot_sweep_grid
        keys = [k.strip() for k in args.plot.split(",")]
        if len(keys) not in (2, 3) or args.metric is None:
            raise ValueError(f"sweep --plot {args.plot!r} is invalid: expected X,Y or X,Y,FACET (settings or "
                             "columns of sweep.csv) and --metric COLUMN")
        import io
        fig = plot_sweep_grid(rows, x=keys[0], y=keys[1], facet=keys[2] if len(keys) == 3 else None,
                              metric=args.metric)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
        atomic_write_bytes(os.path.join(folder, "sweep.png"), buf.getvalue())
        print(f"   figure: {os.path.join(folder, 'sweep.png')}")
    return 0


def _add_sweep(sub) -> None:
    from .studies import SCALES, STUDIES
    p = sub.add_parser("sweep", help="a grid of a study's settings x seeds, on a local pool or a Ray cluster",
                       description=inspect.cleandoc(_sweep.__doc__),
                       epilog="examples:\n  rnnflow sweep clipping --grid hidden=16,32 --grid lr=0.01,0.1 --seeds 0-2\n"
                              "  rnnflow sweep clipping --sample lr=0.001:1:log --sample hidden=8:64 --random 20 "
                              "--sample-seed 1", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", choices=STUDIES, metavar="STUDY", help="the study (or study = ... in --file)")
    p.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                   help="values of one settings field (repeatable); tuple fields: values split by ';'")
    p.add_argument("--sample", action="append", default=[], metavar="FIELD=SPEC",
                   help="draw this field at random (repeatable), SPEC LO:HI (uniform; ints: LO..HI), LO:HI:log "
                        "(log-uniform) or A|B|C (one of); with --random N, crossed with --grid and --seeds")
    p.add_argument("--random", type=_count(1), default=None, metavar="N",
                   help="how many settings of the --sample fields to draw (recorded in the sweep folder: a "
                        "re-run resumes the same cells)")
    p.add_argument("--sample-seed", type=_count(0), default=None, metavar="S", help="seed of the --random draws (default: 0)")
    p.add_argument("--seeds", default=None, help="seeds of every setting: 0-2, 0,3,5 or 4 (default: 0)")
    p.add_argument("--file", default=None,
                   help="a TOML (or YAML) sweep file: study, backend, scale, seeds, [grid], [sample], random, sample_seed")
    p.add_argument("--backend", choices=("torch", "jax"), default=None, help="default: torch")
    p.add_argument("--scale", choices=SCALES, default=None, help="default: smoke")
    p.add_argument("--out", type=_folder, default="results", help="results root folder (default: ./results)")
    p.add_argument("--workers", type=_count(1), default=None,
                   help="local processes (default: the core count; 1: in this process)")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="local pool or Ray core tasks")
    p.add_argument("--address", default=None, help="Ray cluster: auto, ray://host:port or host:port")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="where each cell runs: cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--gpus-per-cell", type=float, default=0, metavar="G",
                   help="--engine ray: GPUs Ray reserves per cell (0.5: two cells share one); cells then run on cuda")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plot", default=None, metavar="X,Y[,FACET]",
                   help="also draw sweep.png: --metric as heat maps over X and Y, a panel per FACET value")
    p.add_argument("--metric", default=None, help="the table column --plot draws, e.g. m:vanishing.log10_measured")
    p.set_defaults(func=_sweep)


def _compare(args) -> int:
    """Print the headline numbers of two or more study folders (results/<study>/<run>) side by
    side with their differences, each against the first, and draw the arrays their data.npz
    share (loss curves, Jacobian profiles...) overlaid, one panel per array, one line per run."""
    from .studies.compare import compare_summaries, load_result, overlay_figure
    if len(args.runs) < 2:
        raise ValueError(f"compare: give two or more run folders, got {len(args.runs)}")
    runs = [load_result(f) for f in args.runs]
    labels = [os.path.basename(os.path.normpath(f)) for f in args.runs]
    if len(set(labels)) < len(labels):   # one run name under two results roots: the paths from their common root
        root = os.path.commonpath([os.path.abspath(f) for f in args.runs])
        labels = [os.path.relpath(os.path.abspath(f), root) for f in args.runs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} ({i + 1})" for i, label in enumerate(labels)]
    for run, label in zip(runs[1:], labels[1:]):
        print(compare_summaries(runs[0], run, labels=(labels[0], label)))
    if args.no_figure:
        return 0
    fig, left = overlay_figure(args.runs, labels)
    if fig is None:
        print("   figure: none (the runs' data.npz share no 1-D arrays)")
        return 0
    import io

    from .io import atomic_write_bytes
    path = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.runs[0]))), "compare",
                                    runs[0].name, "_vs_".join(labels).replace(os.sep, "+") + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    n = sum(1 for ax in fig.axes if ax.get_visible())
    print(f"   figure: {path} ({n} arrays overlaid" + (f", {left} more not drawn" if left else "") + ")")
    return 0


MODEL_FLAGS = ("rnn", "lstm", "gru", "transformer", "mlp")


def _flag_config(args):
    """The model config named by ``diagnose``'s flags (``--model`` and the sizes)."""
    from .config import GRUConfig, Init, LSTMConfig, MLPConfig, RNNConfig, TransformerConfig
    init = None
    if args.init is not None:
        init = Init(args.init, gain=args.gain, mean=args.mean, std=args.std, spectral_radius=args.spectral_radius)
    elif args.spectral_radius is not None:
        init = Init("orthogonal", spectral_radius=args.spectral_radius)
    extra = {} if args.activation is None else {"activation": args.activation}
    if args.model in ("rnn", "lstm", "gru"):
        cls = {"rnn": RNNConfig, "lstm": LSTMConfig, "gru": GRUConfig}[args.model]
        if args.model != "rnn":
            extra.pop("activation", None)
        if args.model == "lstm":
            extra["forget_bias"] = args.forget_bias
        return cls(args.input_size, args.hidden, num_layers=args.layers, output_size=args.output_size,
                   **({"init_hh": init} if init else {}), **extra)
    if args.model == "transformer":
        return TransformerConfig(args.input_size, d_model=args.hidden, num_heads=args.heads, num_layers=args.layers,
                                 norm=args.norm, residual=not args.no_residual, output_size=args.output_size,
                                 **({"init_weight": init} if init else {}), **extra)
    return MLPConfig(args.input_size, args.output_size or 1, width=args.hidden, depth=args.layers,
                     **({"init_weight": init} if init else {}), **extra)


def _diagnose(args) -> int:
    """Diagnose a saved training run (RUN_DIR) or a model given by flags; print the verdict and
    write diagnosis.json and diagnosis.png."""
    import numpy as np

    from ._backend import load
    from .diagnosis import diagnose, diagnose_run, random_batch, write_diagnosis
    from .params import init_params
    x = None if args.inputs is None else np.load(args.inputs, allow_pickle=False)
    common = dict(layer=args.layer, vanish=args.vanish, explode=args.explode, dphi=args.dphi)
    if args.run_dir is not None:
        if args.model is not None:
            raise ValueError(f"diagnose: give a run folder ({args.run_dir!r}) or --model, not both")
        from .diagnosis.runs import load_run
        backend = args.backend or load_run(args.run_dir, args.checkpoint)[2]
        with load(backend).arrays.allow_float64():
            d, source = diagnose_run(args.run_dir, x, checkpoint=args.checkpoint, backend=backend, dtype=args.dtype,
                                     steps=args.steps, batch=args.batch, seed=args.seed, scale=args.input_scale,
                                     **common)
        out = args.out or os.path.join(args.run_dir, "diagnosis")
    else:
        if args.model is None:
            raise ValueError("diagnose: give a run folder (written by rnnflow.train(..., out_dir=...)) or "
                             f"--model, one of {', '.join(MODEL_FLAGS)}")
        if args.input_size is None:
            raise ValueError("diagnose --model needs --input-size (features per input, I)")
        config, backend = _flag_config(args), args.backend or "torch"
        dtype = np.dtype(args.dtype or "float64")
        with load(backend).arrays.allow_float64():
            if x is None:
                x = random_batch(config, steps=args.steps, batch=args.batch, seed=args.seed, scale=args.input_scale,
                                 dtype=dtype)
            d = diagnose(config, x, params=init_params(config, seed=args.seed, dtype=dtype), backend=backend,
                         **common)
        source = f"{type(config).__name__} from flags, init seed {args.seed}"
        out = args.out or "diagnosis"
    print(d.summary())
    print(f"   model: {source}")
    for path in write_diagnosis(d, out, figure=not args.no_figure):
        print(f"   wrote: {path}")
    return 0


def _add_diagnose(sub) -> None:
    p = sub.add_parser("diagnose", help="why a model does not train: vanishing/exploding gradients, the factor, "
                                        "the cure", description=_diagnose.__doc__)
    p.add_argument("run_dir", nargs="?", help="a training run folder (rnnflow.train(..., out_dir=...))")
    p.add_argument("--checkpoint", type=_count(0), default=None, help="diagnose this checkpoint's step (default: final)")
    p.add_argument("--model", choices=MODEL_FLAGS, default=None, help="a fresh model from the flags below")
    p.add_argument("--input-size", type=_count(1), default=None, help="I, input features")
    p.add_argument("--hidden", type=_count(1), default=32, help="H (recurrent), d_model (transformer), width (mlp)")
    p.add_argument("--layers", type=_count(1), default=1, help="layers (mlp: hidden layers)")
    p.add_argument("--output-size", type=int, default=None, help="O, readout size (default: the config's)")
    p.add_argument("--activation", default=None, help="rnn, transformer or mlp non-linearity (default: the config's)")
    p.add_argument("--forget-bias", type=float, default=0.0, help="lstm")
    p.add_argument("--heads", type=int, default=2, help="transformer")
    p.add_argument("--norm", choices=("post", "pre", "none"), default="pre", help="transformer LayerNorm placement")
    p.add_argument("--no-residual", action="store_true", help="transformer without skips")
    p.add_argument("--init", default=None, help="Init kind of W_hh (recurrent) / every weight (stack)")
    p.add_argument("--gain", type=float, default=1.0, help="--init gain (default: 1)")
    p.add_argument("--mean", type=float, default=0.0, help="--init normal: mean (default: 0)")
    p.add_argument("--std", type=float, default=1.0, help="--init normal: standard deviation (default: 1)")
    p.add_argument("--spectral-radius", type=float, default=None, help="rescale W_hh (recurrent models) to this radius")
    p.add_argument("--inputs", default=None, help="a .npy batch (T, B, I) or (B, I) (default: N(0, scale^2) noise)")
    p.add_argument("--steps", type=_count(1), default=32, help="T of the random batch")
    p.add_argument("--batch", type=_count(1), default=8, help="B of the random batch")
    p.add_argument("--input-scale", type=float, default=1.0, help="standard deviation of the random batch")
    p.add_argument("--seed", type=_count(0), default=0, help="seed of the random batch and of a fresh model's init")
    p.add_argument("--backend", choices=("torch", "jax"), default=None, help="default: the run's, else torch")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="parameters' dtype (default: a run's own, float64 for --model)")
    p.add_argument("--layer", type=int, default=0, help="which recurrent layer's time profile")
    p.add_argument("--vanish", type=float, default=1e-6, help="vanished below this ratio to the start")
    p.add_argument("--explode", type=float, default=1e6, help="exploded above this ratio")
    p.add_argument("--dphi", type=float, default=0.01, help="a unit with phi' below this is saturated")
    p.add_argument("--out", default=None, help="folder for diagnosis.json/.png (default: RUN_DIR/diagnosis or ./diagnosis)")
    p.add_argument("--no-figure", action="store_true", help="write diagnosis.json only, no diagnosis.png")
    p.set_defaults(func=_diagnose)


# ---------------------------------------------------------------- errors and argument checks
from .validation import count_arg  # noqa: E402
from .lock import FolderLockedError  # noqa: E402 (a core leaf module: no framework import)
from . import compile_cache  # noqa: E402 (imports no framework)

USER_ERRORS = (ValueError, TypeError, OSError, FolderLockedError)  # what rnnflow raises for bad input or a busy folder


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, ``rnnflow: error: ...`` (exit code 2), like the rest."""

    def error(self, message):
        self.exit(2, f"rnnflow: error: {message} (see {self.prog} --help)\n")


_count = count_arg   # argparse type: an integer flag >= lo


def _folder(text: str) -> str:
    from .validation import check_folder
    try:
        return check_folder("--out", text)
    except USER_ERRORS as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--out=")) from None


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror and e.filename:
        return f"{e.strerror}: {e.filename!r}"
    return " ".join(str(e).split()) or type(e).__name__


def main(argv=None) -> int:
    """``rnnflow <command> ...``: 0 on success; a user error is one line on stderr and exit
    code 2 (``--debug`` shows its traceback instead)."""
    from ._version import __version__
    from .studies import SCALES, STUDIES
    parser = _Parser(prog="rnnflow", description=DESCRIPTION, epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnflow {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="the flagship answers in numbers, torch and jax (under a minute)",
                          description=inspect.cleandoc(_demo.__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--seed", type=_count(0), default=0, help="seed of every init and batch (default: 0)")
    demo.add_argument("--batch", type=_count(1), default=8, help="B of the parity check's batch (default: 8)")
    demo.add_argument("--steps", type=_count(1), default=32, help="T of the parity check's batch (default: 32)")
    demo.add_argument("--hidden", type=_count(1), default=32, help="H of the parity check's models (default: 32)")
    demo.add_argument("--out", type=_folder, default="results",
                      help="results root the printed 'rnnflow run' hints refer to (default: ./results)")
    demo.set_defaults(func=_demo)
    lst = sub.add_parser("list", help="the studies, one line each: name and what it shows",
                         description=_list.__doc__)
    lst.set_defaults(func=_list)
    study_lines = "\n".join(f"  {n:<18} {_study_line(n)}" for n in STUDIES)
    run = sub.add_parser("run", help="run a study: headline numbers, results folder and figures",
                         description=inspect.cleandoc(_run.__doc__) + "\n\nstudies:\n" + study_lines
                         + "\n  all                every study in turn",
                         epilog="example: rnnflow run clipping --backend both --scale docs",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("name", choices=STUDIES + ("all",), metavar="STUDY",
                     help="one of the studies listed above, or all")
    run.add_argument("--backend", choices=("torch", "jax", "both"), default="torch",
                     help="torch, jax, or both (then also a side-by-side comparison) (default: torch)")
    run.add_argument("--seed", type=_count(0), default=0, help="first seed of the study's runs (default: 0)")
    run.add_argument("--scale", choices=SCALES, default="smoke",
                     help="smoke: seconds (tests); docs: what the docs show; full: the real thing (default: smoke)")
    run.add_argument("--out", type=_folder, default="results", help="results root folder (default: ./results)")
    run.add_argument("--force", action="store_true", help="recompute even if a complete folder exists")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--device", default=None, metavar="DEVICE",
                     help="where the study's models train and are analysed: cpu, cuda, cuda:N or auto "
                          "(default: cpu; a complete folder is reused whatever device computed it)")
    run.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="change one of the study's settings (repeatable): --set hidden=64 --set lr=0.01; "
                          "the run gets a folder of its own (see --show-settings)")
    run.add_argument("--show-settings", action="store_true",
                     help="print the study's settings at --scale with their types (after --set), run nothing")
    run.add_argument("--json", "-v", "--verbose", dest="json", action="store_true",
                     help="print the headline numbers as JSON instead of a table (-v/--verbose: the same)")
    run.set_defaults(func=_run)
    _add_diagnose(sub)
    _add_sweep(sub)
    cmp = sub.add_parser("compare", help="headline numbers of two or more runs side by side, with differences",
                         description=_compare.__doc__)
    cmp.add_argument("runs", nargs="+", metavar="RUN", help="study results folders (two or more)")
    cmp.add_argument("--out", default=None, metavar="PNG",
                     help="the overlay figure's path (default: <results>/compare/<study>/<A>_vs_<B>.png)")
    cmp.add_argument("--no-figure", action="store_true", help="print the table only")
    cmp.set_defaults(func=_compare)
    args = parser.parse_args(argv)
    compile_cache.configure()   # compiled JAX programs kept on disk between runs (RNNFLOW_JAX_CACHE=off: not)
    try:
        return args.func(args)
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"rnnflow: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
