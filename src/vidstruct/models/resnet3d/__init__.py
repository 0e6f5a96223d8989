"""The ResNet3D family: one configurable single-pathway class plus SlowFast.

- :mod:`.stem`, :mod:`.blocks`, :mod:`.stages`: the parts (the classifier is
  :class:`vidstruct.models.heads.LinearHead`);
- :mod:`.config`: the plain-data architecture description;
- :mod:`.model` (:class:`ResNet3D`), :mod:`.slowfast` (:class:`SlowFast`): the models;
- :mod:`.builders`: the registered names (slow_r50, i3d_r50, slowfast_*, csn / ircsn / ipcsn_*,
  r2plus1d_*); X3D lives in :mod:`vidstruct.models.x3d`.
"""

from __future__ import annotations

from vidstruct.models.resnet3d import builders  # noqa: F401  (registers the models)
from vidstruct.models.resnet3d.config import ResNet3DConfig, StageConfig, StemConfig
from vidstruct.models.resnet3d.model import ResNet3D
from vidstruct.models.resnet3d.slowfast import SlowFast

__all__ = ["ResNet3D", "ResNet3DConfig", "SlowFast", "StageConfig", "StemConfig"]
