"""The HTML report of one analysed video: a self-contained ``report.html`` beside its ``structure.json``.

:func:`write_report` reads a ``vidstruct.structure/1`` document and writes one page with a video
player, timeline lanes (shots, segments per label, actors per track), a sortable segment table,
thumbnails, the models used, timings and warnings; see :mod:`.writer` for what is inlined and how
the video is referenced. The page's template, style and script (``report.html``, ``report.css``,
``report.js``) are package data.
"""

from __future__ import annotations

from vidstruct.structure.report.writer import REPORT_FILE, render_report, write_report

__all__ = ["REPORT_FILE", "render_report", "write_report"]
