"""A gradient monitor's history as TensorBoard event files (framework-free; needs only the
``tensorboard`` package: ``pip install "rnnflow[tensorboard]"``, no TensorFlow, no torch).

What is written, for each group ``g`` of the :class:`~rnnflow.training.GradientHistory`
(the step is the iteration index)::

    grad_norm/<g>     scalar per iteration: the group's gradient L2 norm
    grad_mean/<g>     scalar per iteration: its mean gradient entry
    loss              scalar per iteration (when a loss was recorded)
    grad_hist/<g>     histogram per recorded epoch, at the step of the epoch's last
                      iteration (the iteration it is of): the monitor's own bins
    grad_hist_outside/<g>, grad_hist_nonfinite/<g>
                      at those steps, entries outside a fixed ``bin_range`` / NaN or Inf
                      (only when some are)

The histograms use the monitor's bins as TensorBoard's buckets (``bucket_limit`` = the
right edges, ``min`` = the left edge of the first bin), so the counts TensorBoard shows
are the monitor's counts; ``sum`` / ``sum_squares`` are those of the whole gradient at that
iteration (mean x count, norm squared).

Other loggers: the history is plain arrays, so e.g. Weights & Biases needs a few lines::

    h = monitor.history()
    for i in range(len(h.iteration)):
        wandb.log({"loss": h.loss[i], **{f"grad_norm/{g}": h.norm[i, j] for j, g in enumerate(h.groups)}},
                  step=int(h.iteration[i]))
    for e, step in enumerate(histogram_steps(h)):
        for j, g in enumerate(h.groups):
            wandb.log({f"grad_hist/{g}": wandb.Histogram(np_histogram=(h.hist_counts[e, j],
                       h.hist_edges[e, j]))}, step=int(step))
"""
from __future__ import annotations

import os
import time

import numpy as np


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("writing TensorBoard files needs the tensorboard package: "
                          'pip install "rnnflow[tensorboard]"') from e
    return event_pb2, summary_pb2, EventFileWriter


def histogram_steps(history) -> np.ndarray:
    """(E,) the iteration each histogram is of: the last iteration of its epoch (-1 if the
    epoch recorded none)."""
    out = np.full(len(history.hist_epoch), -1, np.int64)
    for e, ep in enumerate(history.hist_epoch):
        its = history.iteration[history.epoch == ep]
        if len(its):
            out[e] = its[-1]
    return out


def write_history(history, logdir, *, run: str | None = None) -> str:
    """Write ``history`` (a :class:`~rnnflow.training.GradientHistory`) as one TensorBoard event
    file under ``logdir`` (or ``logdir/run``); returns the file's path. Open with
    ``tensorboard --logdir <logdir>``."""
    event_pb2, summary_pb2, EventFileWriter = _tensorboard()
    path = os.fspath(logdir) if run is None else os.path.join(os.fspath(logdir), run)
    os.makedirs(path, exist_ok=True)
    writer = EventFileWriter(path)
    now = time.time()

    def emit(step: int, values: list) -> None:
        if values:
            writer.add_event(event_pb2.Event(wall_time=now, step=int(step),
                                             summary=summary_pb2.Summary(value=values)))

    def scalar(tag: str, v) -> object:
        return summary_pb2.Summary.Value(tag=tag, simple_value=float(v))

    h = history
    has_loss = bool(np.isfinite(h.loss).any())
    for i, it in enumerate(h.iteration):
        vals = [scalar("loss", h.loss[i])] if has_loss else []
        for j, g in enumerate(h.groups):
            vals += [scalar(f"grad_norm/{g}", h.norm[i, j]), scalar(f"grad_mean/{g}", h.mean[i, j])]
        emit(it, vals)
    outside = h.hist_below + h.hist_above
    steps = histogram_steps(h)
    for e, step in enumerate(steps):
        i = int(np.flatnonzero(h.iteration == step)[0]) if step >= 0 else None
        vals = []
        for j, g in enumerate(h.groups):
            edges, counts = h.hist_edges[e, j], h.hist_counts[e, j]
            if np.isfinite(edges).all():
                n = float(counts.sum())
                total = h.hist_counts[e, j].sum() + outside[e, j] + h.hist_nonfinite[e, j]
                sum_, sq = (0.0, 0.0) if i is None else (h.mean[i, j] * total, h.norm[i, j] ** 2)
                vals.append(summary_pb2.Summary.Value(tag=f"grad_hist/{g}", histo=summary_pb2.HistogramProto(
                    min=float(edges[0]), max=float(edges[-1]), num=n, sum=float(sum_), sum_squares=float(sq),
                    bucket_limit=[float(x) for x in edges[1:]], bucket=[float(c) for c in counts])))
            if outside.any():
                vals.append(scalar(f"grad_hist_outside/{g}", outside[e, j]))
            if h.hist_nonfinite.any():
                vals.append(scalar(f"grad_hist_nonfinite/{g}", h.hist_nonfinite[e, j]))
        emit(max(int(step), 0), vals)
    writer.close()
    name = getattr(writer, "_file_name", None)   # the writer's own file (not a public attribute)
    return os.fspath(name) if name else max((os.path.join(path, f) for f in os.listdir(path) if "tfevents" in f),
                                            key=os.path.getmtime)


__all__ = ["write_history", "histogram_steps"]
