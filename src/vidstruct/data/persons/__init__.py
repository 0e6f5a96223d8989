"""Person-detector training data: keyframe images with person boxes, from AVA-style CSVs.

- :class:`~.keyframes.PersonKeyframes`: one sample per annotated keyframe (``vidstruct synth --task detect``'s
  ``train.csv`` / ``val.csv``, or any AVA ground-truth CSV), the frame decoded from the video and every person's
  box (actions ignored: a person with several action rows is one box);
- :func:`~.keyframes.collate_keyframes`: samples → the lists torchvision detection models take.
"""

from vidstruct.data.persons.keyframes import PersonKeyframes, collate_keyframes

__all__ = ["PersonKeyframes", "collate_keyframes"]
