"""pruninglib: regularization-based neural-network pruning, the library behind the companion book."""
from pruninglib.models import load_model, save_model

__version__ = "0.1.0"
__all__ = ["load_model", "save_model", "__version__"]
