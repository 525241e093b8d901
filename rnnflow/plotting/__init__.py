"""Result -> matplotlib Figure, one plot per file; headless (no pyplot), no framework imports.

Every function takes results of :mod:`rnnflow.analysis` and returns a
:class:`matplotlib.figure.Figure` (``fig.savefig("x.png")`` saves it); pass ``ax=`` to
draw into an existing axes instead.
"""
from .decomposition import plot_elman_decomposition as plot_elman_decomposition
from .depth import plot_depth_profile as plot_depth_profile
from .jacobian_norms import plot_jacobian_norms as plot_jacobian_norms
from .lyapunov import plot_lyapunov_spectrum as plot_lyapunov_spectrum
from .reach import plot_reach as plot_reach

__all__ = ["plot_jacobian_norms", "plot_elman_decomposition", "plot_reach", "plot_depth_profile",
           "plot_lyapunov_spectrum"]
