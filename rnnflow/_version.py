"""rnnflow's version (a leaf module: the CLI reads it without importing the package face)."""
__version__ = "0.1.0"   # keep equal to pyproject.toml's version
