"""Weight initialization shared by the CNNs (PySlowFast / PyTorchVideo "resnet" style)."""

from __future__ import annotations

from torch import nn


def init_cnn_weights(module: nn.Module, *, zero_init_residual: bool = True) -> None:
    """He-normal (fan-out) convs, zero conv biases, unit BN; the last BN of each residual branch starts at 0.

    Zeroing the last BN makes every residual block start as the identity, which helps
    optimization. Linear layers are left to their owners (the classifier sets ``N(0, 0.01²)``).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in module.modules():
            last_bn = getattr(type(m), "last_bn", None)
            if isinstance(last_bn, property):
                nn.init.zeros_(m.last_bn.weight)
