"""Similar moments: the nearest recognition windows across the collection by embedding (cosine similarity).

- :mod:`.space`: the embedding space of an analysis (backbone name + checkpoint SHA-256); spaces never mix;
- :mod:`.vectors`: the windows and embedding rows of the collection, read from the ``windows`` table and each
  analysis's ``embeddings.npy`` (the source of truth);
- :mod:`.index`: one approximate-nearest-neighbour index (usearch HNSW) per space, persisted as
  ``DATA/indexes/<space>.usearch`` + ``<space>.json`` (manifest), synced with the database, rebuilt when lost;
- :mod:`.layered`: the graph plus append-only delta segments (:mod:`.segments`) as the processes share them
  (file locks, :mod:`.locks`), compaction, brute force (:mod:`.flat`) while a lost graph is rebuilt;
- :mod:`.query`: a (video, span) query, ANN candidates re-ranked exactly with numpy, grouped into moments;
- :mod:`.clip`: a query by an uploaded clip, embedded as analysis embeds windows;
- :mod:`.backbones`: the one backbone a clip query needs, loaded alone and kept per process (bounded LRU).
"""
