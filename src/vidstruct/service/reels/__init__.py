"""Highlight reels of stored videos: where a video's structure and file are (:mod:`.source`), reel jobs
(:mod:`.render`). The cutting itself is :mod:`vidstruct.pipeline.reels`."""
