"""Media files for the tests of every layer (the tests' root is on ``sys.path``: ``from mediakit import ...``).

- :func:`write_audio_only`: an AAC file with one audio stream and no video stream (any container PyAV can mux AAC
  into: ``.m4a``, ``.mp4``).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_audio_only(path: Path) -> Path:
    """0.5 s of silence as AAC at 16 kHz in ``path``: a container with one audio stream and no video."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
