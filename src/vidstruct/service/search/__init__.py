"""Search across the collection, answered by the database (indexed SQL, never by loading documents).

- :mod:`.params`: the query a client sends, parsed and validated (labels, score / time / metadata ranges);
- :mod:`.filters`: the SQL conditions every search shares (newest complete analysis of each video, labels,
  scores, time overlap, video metadata);
- :mod:`.cursor`: keyset ``next_token`` s (the last hit's sort key, bound to the query that made it);
- :mod:`.clips`: ``GET /v1/search`` (one hit per segment, or per video);
- :mod:`.sequence`: ``GET /v1/search/sequence`` ("A then B within Δ seconds", one self-join).
"""
