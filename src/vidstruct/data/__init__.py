"""Annotation formats, clip samplers, transforms, datasets and the synthetic generator.

Importing this package registers the annotation readers in
:data:`vidstruct.registry.DATASETS` and the samplers in
:data:`vidstruct.registry.SAMPLERS`.
"""

from vidstruct.data import formats, samplers  # noqa: F401  (import registers readers and samplers)
