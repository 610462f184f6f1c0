"""Masks, magnitude and stochastic pruning, schedules and dead-node detection. ``prune_*`` return masks."""
from pruninglib.pruning.magnitude import prune_magnitude
from pruninglib.pruning.mask import Mask
from pruninglib.pruning.nodes import dead_nodes, fan_in_norms, node_summary
from pruninglib.pruning.schedules import cubic_ramp
from pruninglib.pruning.stochastic import prune_stochastic, zeroing_probabilities

__all__ = ["Mask", "prune_magnitude", "prune_stochastic", "zeroing_probabilities", "cubic_ramp", "dead_nodes",
           "fan_in_norms", "node_summary"]
