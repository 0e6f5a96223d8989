"""Recipes: one validated config → explicit calls of engine / ssl / pipeline.

The only code below the CLI (and a future service) that receives config objects
(:mod:`vidstruct.config`); everything under it takes explicit, typed arguments.

- :mod:`.recognition`: ``task: recognition`` → :func:`~.recognition.run_training` / :func:`~.recognition.run_test`;
- :mod:`.localization`: ``task: localization`` → :func:`~.localization.run_localization_training`;
- :mod:`.detection`: ``task: detection`` → :func:`~.detection.run_detection_training`;
- :mod:`.detection_test`: ``vidstruct test``, ``task: detection`` → :func:`~.detection_test.run_detection_test`;
- :mod:`.person_detection`: ``task: person-detection`` → :func:`~.person_detection.run_person_detection_training`;
- :mod:`.mosi`: ``task: mosi`` → :func:`~.mosi.run_pretraining`;
- :mod:`.demo` (with :mod:`.demo_localization`): ``vidstruct demo``, the main job end to end on an embedded config.

Submodules are imported by name (``from vidstruct.recipes.recognition import run_training``); this package
imports none of them, so importing one recipe does not load the others.
"""
