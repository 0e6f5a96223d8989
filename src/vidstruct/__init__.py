"""vidstruct: turn video into structured, searchable action data.

Layers (data flows down, never back up): ``io`` → ``data`` → ``models`` →
``ssl`` / ``engine`` / ``eval`` → ``pipeline`` → ``service`` → ``cli``.
"""

__version__ = "0.1.0"
