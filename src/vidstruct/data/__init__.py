"""Annotation formats, clip samplers, transforms, datasets and the synthetic generator."""
