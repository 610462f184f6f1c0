"""Instance segmentation: from per-pixel class logits to instances, the Data Science Bowl 2018 metric, and Dice.

Classes of the network output (see :mod:`pruninglib.data.dsb2018`): 0 background, 1 nucleus interior, 2 nucleus
pixel touching another nucleus. Instances (:func:`to_instances`): connected components of the predicted interior
are the seeds, and a watershed on the interior probability grows them over the predicted foreground (classes 1 and
2); a foreground component with no seed becomes an instance of its own.

DSB 2018 metric (:func:`dsb_average_precision`), per image: for each IoU threshold t in 0.50, 0.55, ..., 0.95,
a predicted and a true instance match when their IoU > t (at t >= 0.5 a match is unique), and
``precision(t) = TP / (TP + FP + FN)``; the image's score is the mean over the 10 thresholds, and the data set's
score the mean over images. Worked example: one true nucleus, one prediction with IoU 0.72: TP = 1 for t = 0.50
.. 0.70 (5 thresholds), else FP = FN = 1 (precision 0); the score is 5/10 = 0.5.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from skimage.segmentation import watershed
from torch import nn

THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def to_instances(probs: np.ndarray, min_size: int = 2) -> np.ndarray:
    """Class probabilities (3, H, W) -> instance map (H, W) int32 (0 = background, instances 1..n).

    Seeds: 4-connected components of argmax == interior with at least ``min_size`` pixels.
    """
    cls = probs.argmax(0)
    fg = cls > 0
    seeds, n = ndimage.label(cls == 1)
    if n:
        sizes = np.bincount(seeds.ravel())
        small = sizes < min_size
        small[0] = False
        seeds[small[seeds]] = 0
    out = watershed(-probs[1], seeds, mask=fg) if seeds.any() else np.zeros(fg.shape, dtype=np.int32)
    rest, _ = ndimage.label(fg & (out == 0))
    out = np.where(rest > 0, rest + out.max(), out)
    # relabel 1..n
    ids = np.unique(out[out > 0])
    lut = np.zeros(int(out.max()) + 1, dtype=np.int32)
    lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
    return lut[out]


def iou_matrix(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """IoU of every true instance (rows, labels 1..T) with every predicted one (columns, 1..P): (T, P)."""
    t, p = int(true.max()), int(pred.max())
    inter = np.bincount(true.ravel().astype(np.int64) * (p + 1) + pred.ravel(), minlength=(t + 1) * (p + 1))
    inter = inter.reshape(t + 1, p + 1)
    area_t, area_p = inter.sum(1, keepdims=True), inter.sum(0, keepdims=True)
    union = area_t + area_p - inter
    return (inter / np.maximum(union, 1))[1:, 1:]


def dsb_average_precision(true: np.ndarray, pred: np.ndarray) -> float:
    """The DSB 2018 score of one image (see module docstring); 1.0 when both maps are empty."""
    t, p = int(true.max()), int(pred.max())
    if t == 0 and p == 0:
        return 1.0
    if t == 0 or p == 0:
        return 0.0
    iou = iou_matrix(true, pred)
    scores = []
    for th in THRESHOLDS:
        m = iou > th
        tp = int(m.any(1).sum())  # unique at th >= 0.5: two instances cannot both overlap one by more than half
        scores.append(tp / (tp + (p - int(m.any(0).sum())) + (t - tp)))
    return float(np.mean(scores))


def dice(true_fg: np.ndarray, pred_fg: np.ndarray) -> float:
    """Foreground Dice 2|A n B| / (|A| + |B|) of two bool masks; 1.0 when both are empty."""
    s = int(true_fg.sum()) + int(pred_fg.sum())
    return 1.0 if s == 0 else 2.0 * int((true_fg & pred_fg).sum()) / s


@torch.no_grad()
def predict_probs(model: nn.Module, x: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Softmax class probabilities of ``model`` (eval mode; its mode is restored) for images x (N, C, H, W):
    float32 array (N, classes, H, W)."""
    was = model.training
    model.eval()
    out = [torch.softmax(model(x[i:i + batch_size]), dim=1).cpu() for i in range(0, len(x), batch_size)]
    model.train(was)
    return torch.cat(out).numpy()


def segmentation_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per image: DSB average precision and foreground Dice of predictions ``probs`` (N, 3, H, W) against instance
    maps ``labels`` (N, H, W); also the predicted instance maps and counts."""
    inst = np.stack([to_instances(p) for p in probs])
    ap = np.array([dsb_average_precision(t, q) for t, q in zip(labels, inst)])
    dc = np.array([dice(t > 0, p.argmax(0) > 0) for t, p in zip(labels, probs)])
    return {"ap": ap, "dice": dc, "instances": inst, "n_pred": inst.reshape(len(inst), -1).max(1),
            "n_true": labels.reshape(len(labels), -1).max(1)}
