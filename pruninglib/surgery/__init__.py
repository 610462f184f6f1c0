"""Physical removal of dead nodes: ``shrink(model)`` returns a smaller model with the same outputs (eval mode).

A dead node (all fan-in weights zero) carries the constant ``activation(norm(bias))``; dropping it from a consumer
folds the consumer's weights on it times that constant into the consumer, so outputs stay equal up to float
rounding. That fold into a bias is exact only when every output of the consumer sees the constant under all of its
weights: a Linear (after global pooling), or a convolution WITHOUT zero padding. A plain padded ``Conv2d`` is
refused with :class:`InexactShrinkError` unless every dropped constant is zero; models with padded convolutions use
:class:`~pruninglib.models.layers.FoldableConv2d`, which absorbs the constants exactly, border included.

Modules, by concern:

- :mod:`~pruninglib.surgery.rules`: per layer type, how to drop output units, input units and normalised channels
  (``OUT_RULES``, ``IN_RULES``, ``NORM_RULES``, looked up with ``isinstance`` semantics); a new layer type is
  supported by adding its rules there;
- :mod:`~pruninglib.surgery.layout`: which units of a producer are kept, and where they sit in a consumer's input
  when it reads a concatenation;
- :mod:`~pruninglib.surgery.entry`: :func:`shrink`, which walks the couplings.

What a model must offer to be shrinkable (:class:`~pruninglib.models.base.Prunable`):

- ``couplings()``: a list of :class:`~pruninglib.models.base.Coupling` in forward order, one per producer whose
  output units can be removed, naming (by submodule path) the producer, its optional per-channel norm, its
  activation (``"relu"`` or ``"identity"``) and every consumer, with channel offsets for a concatenation. Whatever
  sits between producer and consumers must map a constant channel to the same constant (max or average pooling,
  nearest up-sampling, flattening a 1x1 map), and each producer, norm and consumer must be of a type with rules
  (Linear, FlattenLinear, Conv2d with groups 1, FoldableConv2d, BatchNorm with running statistics);
- ``spec()``: a plain dict ``{"name", "kwargs"}`` that rebuilds the model with its CURRENT widths through the model
  registry, so a shrunk model can be saved and loaded (``save_model`` / ``load_model``);
- ``prunable()``: its prunable weights by parameter name (pruning and tracking read it);
- and, for the tests and benchmarks that run every registered model, ``example_input_shape()``: the shape of one
  input without the batch dimension, small but valid for the architecture (e.g. ``(3, 32, 32)`` for VGG-16).

Errors: :class:`~pruninglib.models.base.NotPrunableError` (no such interface), :class:`UnsupportedLayerError` (a
layer type without rules), :class:`InexactShrinkError` (a fold that would change the function).
"""
from pruninglib.models.base import NotPrunableError
from pruninglib.surgery.entry import shrink
from pruninglib.surgery.layout import InputLayout
from pruninglib.surgery.rules import InexactShrinkError, UnsupportedLayerError

__all__ = ["InexactShrinkError", "InputLayout", "NotPrunableError", "UnsupportedLayerError", "shrink"]
