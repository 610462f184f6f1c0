"""Training: the frozen ``fit`` loop, its checksummed checkpoints, its callbacks and optimizer helpers."""
from pruninglib.training.callbacks import GroupProx, KeepMask, StochasticPruning
from pruninglib.training.checkpoint import CheckpointWarning, load_checkpoint, save_checkpoint
from pruninglib.training.loop import Callback, CheckpointError, FitState, cosine_schedule, fit, make_optimizer
from pruninglib.training.relevance import RelevanceDecay

__all__ = ["Callback", "FitState", "fit", "make_optimizer", "cosine_schedule", "GroupProx", "KeepMask",
           "StochasticPruning", "RelevanceDecay", "CheckpointError", "CheckpointWarning", "load_checkpoint",
           "save_checkpoint"]
