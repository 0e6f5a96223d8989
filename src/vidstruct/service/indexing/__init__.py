"""Batch indexing (``vidstruct index``): a video collection analysed into the service's database, directly
(:mod:`.local`: this process, a process pool or Ray tasks, each writing to the database) or through the HTTP API
(:mod:`.remote`).

Indexed videos are stored exactly as a finished service job stores them (:mod:`.store`, through
:func:`vidstruct.service.db.store.add_analysis`): the video row (a server-side file at its absolute path), a
``SUCCEEDED`` job row tagged with the run's ``job_tag`` (``vidstruct-index`` by default; never claimed by a
worker, listed by ``GET /v1/jobs?job_tag=...``), the analysis with its shots, segments, windows, actors and
thumbnails (files under ``DATA/analyses/JOB_ID/``), the moderation check, then the similar-moments index.
Resumable and exactly-once by the key (content SHA-256, profile hash): see :mod:`.task` and :mod:`.store`.
"""

from vidstruct.service.indexing.local import RayResources, index_collection
from vidstruct.service.indexing.remote import ServerIndexError, index_via_server, request_token
from vidstruct.service.indexing.report import IndexReport
from vidstruct.service.indexing.task import KILL_ONCE_ENV, IndexTarget, VideoIndexer

__all__ = [
    "KILL_ONCE_ENV",
    "IndexReport",
    "IndexTarget",
    "RayResources",
    "ServerIndexError",
    "VideoIndexer",
    "index_collection",
    "index_via_server",
    "request_token",
]
