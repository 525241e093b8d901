"""Result -> matplotlib Figure, one file per quantity (jacobians, decomposition, lyapunov, reach,
depth, clipping, monitor, spectrum, training); headless (no pyplot), no framework imports.

Every function takes results of :mod:`rnnflow.analysis` or :mod:`rnnflow.training` and returns
a :class:`matplotlib.figure.Figure` (``fig.savefig("x.png")`` saves it); most accept ``ax=`` to
draw into an existing axes instead.
"""
from .clipping import plot_cliff as plot_cliff, plot_cliff_descent as plot_cliff_descent
from .decomposition import (
    plot_elman_decomposition as plot_elman_decomposition,
    plot_elman_decomposition_panels as plot_elman_decomposition_panels,
)
from .depth import (
    plot_depth_profile as plot_depth_profile, plot_depth_ratio as plot_depth_ratio,
    plot_depth_scaling as plot_depth_scaling, plot_weight_grad_profile as plot_weight_grad_profile,
)
from .jacobians import plot_decay_family as plot_decay_family, plot_jacobian_norms as plot_jacobian_norms
from .lyapunov import plot_lyapunov_spectrum as plot_lyapunov_spectrum
from .monitor import (
    plot_gradient_histograms as plot_gradient_histograms, plot_gradient_norms as plot_gradient_norms,
    plot_group_norm_comparison as plot_group_norm_comparison, plot_mean_gradients as plot_mean_gradients,
)
from .reach import plot_reach as plot_reach
from .spectrum import (
    plot_eigenvalue_migration as plot_eigenvalue_migration, plot_spectrum_trace as plot_spectrum_trace,
)
from .ssm import plot_decay_heatmap as plot_decay_heatmap
from .success import plot_success_vs_length as plot_success_vs_length
from .training import (
    plot_grad_norm_panels as plot_grad_norm_panels, plot_grad_norm_trace as plot_grad_norm_trace,
    plot_loss_curves as plot_loss_curves, plot_loss_panels as plot_loss_panels,
)

__all__ = [
    "plot_jacobian_norms", "plot_elman_decomposition", "plot_decay_family", "plot_reach",
    "plot_depth_profile", "plot_depth_scaling", "plot_lyapunov_spectrum", "plot_cliff", "plot_cliff_descent",
    "plot_gradient_histograms", "plot_mean_gradients", "plot_gradient_norms", "plot_loss_curves",
    "plot_grad_norm_trace", "plot_loss_panels", "plot_grad_norm_panels", "plot_group_norm_comparison",
    "plot_success_vs_length",
    "plot_elman_decomposition_panels", "plot_depth_ratio", "plot_weight_grad_profile",
    "plot_decay_heatmap", "plot_eigenvalue_migration", "plot_spectrum_trace",
]
