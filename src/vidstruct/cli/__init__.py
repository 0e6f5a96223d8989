"""The ``vidstruct`` command: thin argument parsing over the library."""
