"""``Conv3d`` that keeps float32 where CPU bf16 autocast computes a wrong weight gradient.

The defect (PyTorch 2.14.1 with oneDNN 3.12 on an AVX-512 CPU; found on the tiny R(2+1)D of the action
detector): under ``torch.autocast("cpu", dtype=torch.bfloat16)``, ``aten::convolution_backward`` of a
``conv3d`` whose input is *shorter in time than its temporal kernel* (``1 < T_in < kt``, temporal padding
``kt // 2``: e.g. a ``(3, 1, 1)`` conv on the ``T = 2`` maps of a deep stage, or ``(5, 1, 1)`` on ``T = 3`` or
``4``) returns a garbage **weight** gradient: values up to 1e37 and NaN, relative error ~1e36 against float32,
for channel counts of 16 and more (the blocked oneDNN layouts; 8 or 12 channels are right). The input gradient
and the forward are right; ``T_in >= kt``, ``T_in = 1``, spatial kernels larger than the map and strided
convs are right; with ``torch.backends.mkldnn`` disabled the same bf16 op is right (error 3e-7). A NaN weight
gradient reaches every parameter through AdamW's next step, hence "NaN from step 2-3" in training. Minimal
reproduction (``tests/detection/test_det_bf16.py`` tests the workaround)::

    x = torch.randn(2, 32, 2, 4, 4).bfloat16()                       # T = 2
    w = (torch.randn(32, 32, 3, 1, 1) * 0.1).bfloat16().requires_grad_()
    torch.nn.functional.conv3d(x, w, None, 1, (1, 0, 0)).backward(torch.randn(2, 32, 2, 4, 4).bfloat16())
    w.grad  # ~1e36 and NaN; float32 (or mkldnn disabled): |grad| ~ 10

Workaround: :class:`TemporalConv3d` runs such a convolution in float32 (autocast off, input and weight in
float32) and casts its output back to the autocast dtype, so the layers after it see what they saw before.
Every other call is ``nn.Conv3d``'s. It is a subclass: state-dict keys, ``isinstance`` checks and weight
converters are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TemporalConv3d", "needs_float32"]


def needs_float32(x: torch.Tensor, temporal_kernel: int) -> bool:
    """Whether a ``conv3d`` of ``x`` ``[B, C, T, H, W]`` with a ``temporal_kernel``-frame kernel hits the CPU bf16
    weight-gradient defect (see module doc): CPU, bf16 autocast on, ``T < temporal_kernel``."""
    return (
        x.device.type == "cpu"
        and x.shape[-3] < temporal_kernel
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    )


class TemporalConv3d(nn.Conv3d):
    """``nn.Conv3d`` computed in float32 when :func:`needs_float32` says so (output in bf16, as autocast's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not needs_float32(x, int(self.kernel_size[0])):
            return super().forward(x)
        with torch.autocast("cpu", enabled=False):
            bias = self.bias.float() if self.bias is not None else None
            out = self._conv_forward(x.float(), self.weight.float(), bias)
        return out.to(torch.bfloat16)
