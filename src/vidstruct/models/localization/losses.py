"""BMN losses (Lin et al., ICCV 2019; definitions of the reference implementation).

Inputs are probabilities (BMN ends in sigmoids), targets come from
:mod:`~vidstruct.models.localization.targets`. Statistics (positive ratios,
sampling rates) are taken over the whole batch, as in the reference.

- :func:`balanced_bce`: ``-mean(c₊·y·log(p+ε) + c₋·(1-y)·log(1-p+ε))`` over the
  ``M`` counted entries with ``c₊ = ½·M / #pos`` and ``c₋ = ½·M / #neg`` (the
  reference's ``coef_1 = ½·ratio``, ``coef_0 = ½·ratio / (ratio - 1)`` with
  ``ratio = M / #pos``), ``ε = 1e-6``. An empty class gets count 1 instead of
  a division by zero.
- :func:`tem_loss`: ``balanced_bce`` on start and on end probabilities
  ``[B, T]``, positives where the label ``> 0.5``; the sum of both.
- :func:`pem_reg_loss`: ``½ · Σ w (p - g)² / Σ w`` on the regression channel of
  the confidence map, where ``w`` keeps every cell with ``g > 0.7``, and a
  random subset of the cells with ``0.3 < g ≤ 0.7`` and with ``0 < g ≤ 0.3``
  (valid cells only), each kept with probability ``min(1, #high / #count)``
  so that each band contributes about as many cells as the high band. (Zero-IoU
  cells are not regression samples in the reference either.) 0 when no cell
  is sampled.
- :func:`pem_cls_loss`: ``balanced_bce`` on the classification channel over
  valid cells, positives where ``g > 0.9``.
- :func:`bmn_loss`: ``tem + 10 · pem_reg + pem_cls``.
"""

from __future__ import annotations

import torch

from vidstruct.errors import ShapeError

__all__ = ["balanced_bce", "bmn_loss", "pem_cls_loss", "pem_reg_loss", "tem_loss", "valid_cells_like"]

EPS = 1e-6


def balanced_bce(
    prob: torch.Tensor, positive: torch.Tensor, counted: torch.Tensor | None = None, eps: float = EPS
) -> torch.Tensor:
    """Class-balanced binary cross-entropy of probabilities ``prob`` and bool ``positive`` (same shape).

    ``counted``: bool mask of the entries that take part (default: all).
    """
    pos = positive.to(prob.dtype)
    neg = 1.0 - pos
    if counted is not None:
        c = counted.to(prob.dtype).expand_as(prob)
        pos, neg = pos * c, neg * c
        total = c.sum()
    else:
        total = torch.tensor(float(prob.numel()), dtype=prob.dtype, device=prob.device)
    n_pos = pos.sum().clamp(min=1.0)
    n_neg = neg.sum().clamp(min=1.0)
    loss_pos = (0.5 * total / n_pos) * torch.log(prob + eps) * pos
    loss_neg = (0.5 * total / n_neg) * torch.log(1.0 - prob + eps) * neg
    return -(loss_pos + loss_neg).sum() / total.clamp(min=1.0)


def tem_loss(
    pred_start: torch.Tensor,
    pred_end: torch.Tensor,
    gt_start: torch.Tensor,
    gt_end: torch.Tensor,
    *,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Temporal evaluation module loss: start / end probabilities ``[B, T]`` vs boundary labels ``[B, T]``."""
    for name, p, g in (("start", pred_start, gt_start), ("end", pred_end, gt_end)):
        if p.shape != g.shape:
            raise ShapeError(f"{name}: predictions {tuple(p.shape)} and labels {tuple(g.shape)} differ in shape")
    return balanced_bce(pred_start, gt_start > threshold) + balanced_bce(pred_end, gt_end > threshold)


def valid_cells_like(confidence: torch.Tensor) -> torch.Tensor:
    """``[D, T]`` bool for a map ``[..., D, T]``: cell ``(d, t)`` is valid iff ``t + d < T``."""
    D, T = confidence.shape[-2:]
    d = torch.arange(D, device=confidence.device).view(D, 1)
    t = torch.arange(T, device=confidence.device).view(1, T)
    return (t + d) < T


def pem_reg_loss(
    pred: torch.Tensor,
    gt_iou: torch.Tensor,
    valid: torch.Tensor,
    *,
    high: float = 0.7,
    low: float = 0.3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """IoU regression loss with band-balanced sampling: ``pred``, ``gt_iou`` ``[B, D, T]``, ``valid [D, T]`` bool."""
    gt = gt_iou * valid
    h_mask = gt > high
    m_mask = (gt <= high) & (gt > low)
    l_mask = (gt <= low) & (gt > 0.0) & valid
    n_h = h_mask.sum()
    weights = h_mask.to(pred.dtype)
    for band in (m_mask, l_mask):
        rate = (n_h / band.sum().clamp(min=1)).clamp(max=1.0)
        draw = torch.rand(gt.shape, generator=generator, device=gt.device, dtype=pred.dtype)
        weights = weights + (band & (draw < rate)).to(pred.dtype)
    total = weights.sum()
    if total.item() == 0:
        return pred.sum() * 0.0
    return 0.5 * (weights * (pred - gt) ** 2).sum() / total


def pem_cls_loss(
    pred: torch.Tensor, gt_iou: torch.Tensor, valid: torch.Tensor, *, threshold: float = 0.9
) -> torch.Tensor:
    """Proposal classification loss: ``balanced_bce`` over valid cells, positives where ``gt_iou > threshold``."""
    gt = gt_iou * valid
    return balanced_bce(pred, gt > threshold, valid.expand_as(pred))


def bmn_loss(
    outputs: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    *,
    reg_weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """``{"loss", "tem", "pem_reg", "pem_cls"}`` of BMN outputs vs targets.

    ``outputs``: ``"start"``, ``"end"`` ``[B, T]`` and ``"confidence"`` ``[B, 2, D, T]``
    (channel 0: IoU regression, 1: classification), all probabilities.
    ``targets``: ``"start"``, ``"end"`` ``[B, T]``, ``"iou_map"`` ``[B, D, T]``
    (see :func:`~vidstruct.models.localization.targets.bmn_targets_batch`).
    """
    for key in ("start", "end", "iou_map"):
        if key not in targets:
            raise ValueError(f"BMN targets: missing {key!r}; have {sorted(targets)}")
    conf = outputs["confidence"]
    gt_iou = targets["iou_map"].to(conf.device, conf.dtype)
    if gt_iou.shape != conf[:, 0].shape:
        raise ShapeError(
            f"iou_map: expected {tuple(conf[:, 0].shape)} like the confidence map, got {tuple(gt_iou.shape)}"
        )
    valid = valid_cells_like(conf)
    tem = tem_loss(
        outputs["start"],
        outputs["end"],
        targets["start"].to(conf.device, conf.dtype),
        targets["end"].to(conf.device, conf.dtype),
    )
    reg = pem_reg_loss(conf[:, 0], gt_iou, valid, generator=generator)
    cls = pem_cls_loss(conf[:, 1], gt_iou, valid)
    return {"loss": tem + reg_weight * reg + cls, "tem": tem, "pem_reg": reg, "pem_cls": cls}
