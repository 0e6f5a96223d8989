"""Temporal action localization through the engine: the training-loss hook and validation metrics.

- :mod:`.losses`: :func:`~.losses.make_loss_fn` (BMN / relation / weak CAS losses for the trainer's ``loss_fn``);
- :mod:`.evaluate`: AR@AN / AUC / mAP of a localizer on a dataset via :mod:`vidstruct.eval.temporal`.

The config → objects wiring (``task: localization``) is :mod:`vidstruct.recipes.localization`.
"""
