"""Masks, magnitude and stochastic pruning, schedules and dead-node detection. ``prune_*`` return masks (or, for
filter-level baselines, the filters to remove); ``remove_filters_`` and ``Mask.apply_`` mutate."""
from pruninglib.pruning.filters import (bn_scales, filter_l1_norms, prune_bn_scale, prune_filters_l1,
                                        remove_filters_)
from pruninglib.pruning.magnitude import prune_magnitude
from pruninglib.pruning.mask import Mask
from pruninglib.pruning.nodes import dead_nodes, fan_in_norms, node_summary
from pruninglib.pruning.schedules import cubic_ramp
from pruninglib.pruning.stochastic import prune_stochastic, zeroing_probabilities

__all__ = ["Mask", "prune_magnitude", "prune_stochastic", "zeroing_probabilities", "cubic_ramp", "dead_nodes",
           "fan_in_norms", "node_summary", "filter_l1_norms", "bn_scales", "prune_filters_l1", "prune_bn_scale",
           "remove_filters_"]
