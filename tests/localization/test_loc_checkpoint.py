"""``vidstruct.localizer/1`` checkpoints: round trips of every model kind and clear errors on other files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidstruct.errors import CheckpointError
from vidstruct.models import MODELS
from vidstruct.models.localization.checkpoint import FORMAT, load_localizer, save_localizer
from vidstruct.models.localization.spec import PostprocessSettings

FEATURES = {"window_s": 0.5, "stride_s": 0.25, "feature_dim": 8, "temporal_scale": 16, "backbone_classes": None}
BMN_KW = dict(feat_dim=8, temporal_scale=16, max_duration=8, num_sample=4, num_sample_perbin=2,
              hidden_dim_1d=8, hidden_dim_2d=8, hidden_dim_3d=8)  # fmt: skip


def tiny(name: str, **extra: object) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    kwargs = {**BMN_KW, **extra} if name == "bmn" else {"feat_dim": 8, "num_classes": 3, "hidden_dim": 8, **extra}
    return MODELS.build(name, **kwargs).eval(), kwargs


@pytest.mark.parametrize(
    ("name", "extra"),
    [("bmn", {}), ("bmn", {"relation": True, "relation_top_k": 5, "relation_dim": 16, "relation_heads": 2}),
     ("weak_cas", {})],
)  # fmt: skip
def test_round_trip_gives_identical_outputs(tmp_path: Path, name: str, extra: dict) -> None:
    model, kwargs = tiny(name, **extra)
    post = PostprocessSettings(fusion="none" if name == "bmn" else "cas", sigma=0.3, max_segments=7)
    path = save_localizer(
        tmp_path / "localizer.pt", model, model_name=name, model_kwargs=kwargs, classes=["a", "b", "c"],
        features=FEATURES, postprocess=post, metrics={"AUC": 50.0},
    )  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["localizer.pt"]  # written atomically: no temporary left
    raw = torch.load(path, weights_only=True)  # plain types only
    assert raw["format"] == FORMAT and raw["model"] == name
    if extra.get("relation"):
        assert raw["model_kwargs"]["relation"] is False and "relation_top_k" not in raw["model_kwargs"]
        assert raw["relation"]["top_k"] == 5 and raw["relation"]["model_kwargs"]["d_model"] == 16
        assert not any(k.startswith("relation.") for k in raw["state_dict"])
    else:
        assert raw["relation"] is None
    bundle = load_localizer(tmp_path)  # a run directory works too
    assert bundle.kind == name and bundle.classes == ["a", "b", "c"] and bundle.metrics == {"AUC": 50.0}
    assert bundle.postprocess == post and not bundle.model.training
    x = torch.randn(2, 8, 16)
    with torch.no_grad():
        want, got = model(x), bundle.model(x)
    assert set(want) == set(got)
    for key in want:
        assert torch.equal(want[key], got[key]), key


def test_foreign_corrupt_and_missing_files_raise_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="localizer checkpoint not found"):
        load_localizer(tmp_path / "nope.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_localizer(tmp_path / "garbage.pt")
    torch.save({"format": "vidstruct.model/1", "state_dict": {}}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="not a localizer checkpoint.*'vidstruct.model/1'"):
        load_localizer(tmp_path / "model.pt")


def test_weights_that_do_not_fit_raise_checkpoint_error(tmp_path: Path) -> None:
    model, kwargs = tiny("bmn")
    path = save_localizer(tmp_path / "l.pt", model, model_name="bmn", model_kwargs=kwargs, classes=["a"],
                          features=FEATURES, postprocess=PostprocessSettings(fusion="none"))  # fmt: skip
    raw = torch.load(path, weights_only=True)
    raw["model_kwargs"]["hidden_dim_1d"] = 16
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=r"l\.pt: state_dict: .*does not fit 'BMN'.*shape mismatches"):
        load_localizer(path)
