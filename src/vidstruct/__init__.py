"""vidstruct: turn video into structured, searchable action data.

Layers (data flows down, never back up): ``io`` → ``data`` → ``models`` →
``ssl`` / ``eval`` / ``engine`` → ``pipeline`` → ``recipes`` (the only code below the CLI that sees a
config, :mod:`vidstruct.config`) → ``cli``; ``errors``, ``registry``, ``atomic`` and ``device`` are
foundation modules every layer may import (``tests/test_layering.py`` checks all of it).
"""

__version__ = "0.1.0"
