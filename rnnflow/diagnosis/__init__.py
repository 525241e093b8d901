"""Why a model does not train: :func:`diagnose` measures whether gradients vanish or explode over
time and depth, names the responsible factor and the cure, and the study that shows it::

    d = rnnflow.diagnose(model, x)          # a model of either backend, or a config + params + backend
    print(d.summary())                      # verdict, factor and its number, crossing, cure
    d = rnnflow.diagnose(model, x, out_dir="diag")   # + diag/diagnosis.json and diag/diagnosis.png

Files: :mod:`.profiles` (time/depth profiles and crossings), :mod:`.factors` (the measured
causes), :mod:`.rules` (verdict rules, thresholds, cures), :mod:`.result` (the result type),
:mod:`.api` (the call), :mod:`.stacked` (stacked recurrent layers as a stack of sequence maps),
:mod:`.runs` (a saved training run).
"""
from .api import diagnose as diagnose, write_diagnosis as write_diagnosis
from .runs import diagnose_run as diagnose_run, load_run as load_run, random_batch as random_batch
from .result import AxisProfile as AxisProfile, Diagnosis as Diagnosis, Factor as Factor
from .rules import DPHI as DPHI, EXPLODE as EXPLODE, SATURATED as SATURATED, VANISH as VANISH

__all__ = ["diagnose", "diagnose_run", "load_run", "random_batch", "write_diagnosis", "Diagnosis", "AxisProfile",
           "Factor", "VANISH", "EXPLODE", "DPHI", "SATURATED"]
