"""tIoU threshold sets of the temporal localization benchmarks.

- ``anet``: ActivityNet-1.3 / HACS, ``0.5:0.05:0.95`` (10 thresholds; the
  "average mAP" is the mean over them);
- ``thumos``: THUMOS14, ``0.3:0.1:0.7`` (5 thresholds);
- ``epic``: EPIC-Kitchens-100 action detection, ``0.1:0.1:0.5`` (5 thresholds).

The values are ``np.linspace`` grids, exactly as the official ActivityNet
toolkit builds them (e.g. its ``0.9`` is ``0.8999999999999999``), so that
``tIoU >= threshold`` decides identically. The AP at every threshold is the
ActivityNet interpolated AP (:mod:`.detection`); for THUMOS14 this is the
protocol of the common open-source codebases (BMN, G-TAD, ActionFormer), not
the original MATLAB toolkit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidstruct.errors import InputError
from vidstruct.registry import did_you_mean

__all__ = ["ANET_TIOU", "EPIC_TIOU", "PROTOCOLS", "THUMOS_TIOU", "check_thresholds", "protocol_thresholds"]

ANET_TIOU = np.linspace(0.5, 0.95, 10)
THUMOS_TIOU = np.linspace(0.3, 0.7, 5)
EPIC_TIOU = np.linspace(0.1, 0.5, 5)
PROTOCOLS: dict[str, np.ndarray] = {"anet": ANET_TIOU, "thumos": THUMOS_TIOU, "epic": EPIC_TIOU}


def protocol_thresholds(name: str) -> np.ndarray:
    """The tIoU thresholds of protocol ``name`` (``anet``, ``thumos``, ``epic``)."""
    if name not in PROTOCOLS:
        raise InputError(
            f"unknown protocol {name!r}; expected one of {sorted(PROTOCOLS)}{did_you_mean(name, list(PROTOCOLS))}"
        )
    return PROTOCOLS[name].copy()


def check_thresholds(tiou_thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """``tiou_thresholds`` as a float64 ``[T]`` array, each in ``(0, 1]``; raises :class:`InputError` otherwise."""
    t = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if t.size == 0 or not np.all((t > 0) & (t <= 1)):
        raise InputError(f"tIoU thresholds must be a non-empty list of numbers in (0, 1], got {t.tolist()}")
    return t
