r"""
sweep: one study over a grid of settings and seeds
==================================================

**Question.** How does the vanishing of a saturated tanh RNN's gradient depend on the width,
the sequence length and the batch, and how much of it is seed-to-seed noise?

**Method.** ``rnnflow sweep`` runs the ``tanh_vs_weights`` study (see its page) once per cell
of a grid, here hidden size x sequence length x batch size x two seeds: 16 ordinary study runs,
each in its own results folder, gathered into one table (``sweep.csv``). The figure draws the
headline number ``vanishing.log10_measured`` (``log10`` of the Jacobian norm over the whole
sequence) as heat maps, one panel per batch size, each cell the mean over the seeds with the
half-width of its 95% confidence interval (Student t). See :doc:`/sweeps` for random sampling,
resuming and Ray.

**Regenerate**::

    rnnflow sweep tanh_vs_weights --grid hidden=8,16 --grid steps=10,20 --grid batch=1,4 \
        --seeds 0-1 --plot hidden,steps,batch --metric m:vanishing.log10_measured
"""
from rnnflow_docs import sweep_for_docs

from rnnflow.sweep import Sweep

grid = (("hidden", ("8", "16")), ("steps", ("10", "20")), ("batch", ("1", "4")))
folder, rows = sweep_for_docs(Sweep("tanh_vs_weights", grid, seeds=(0, 1), scale="smoke"),
                              x="hidden", y="steps", facet="batch", metric="m:vanishing.log10_measured")

# %%
# **What it shows.** The sequence length sets the decades: doubling the steps from 10 to 20
# roughly doubles how far the gradient falls (a product of one more factor below 1 per step),
# while the width and the batch move it far less than the seed-to-seed spread (the ``±``).
