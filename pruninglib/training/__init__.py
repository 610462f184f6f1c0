"""Training: the frozen ``fit`` loop, its callbacks and optimizer helpers."""
from pruninglib.training.callbacks import GroupProx, KeepMask, StochasticPruning
from pruninglib.training.loop import Callback, FitState, cosine_schedule, fit, make_optimizer

__all__ = ["Callback", "FitState", "fit", "make_optimizer", "cosine_schedule", "GroupProx", "KeepMask", "StochasticPruning"]
