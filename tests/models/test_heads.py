"""Heads: linear pooling head, transformer head over feature maps, EPIC-Kitchens verb/noun/action scores."""

from __future__ import annotations

import math

import pytest
import torch

from vidstruct.errors import InputError, RegistryError, ShapeError
from vidstruct.models.heads import EpicVerbNounHead, LinearHead, TransformerHead, action_scores, topk_actions
from vidstruct.registry import HEADS


def test_action_scores_hand_computed() -> None:
    # sample 0: p_verb = [0.25, 0.75], p_noun = [0.5, 0.3, 0.2]; sample 1: [0.75, 0.25], [0.1, 0.6, 0.3]
    verb = torch.tensor([[math.log(1), math.log(3)], [math.log(3), math.log(1)]])
    noun = torch.tensor([[math.log(5), math.log(3), math.log(2)], [math.log(1), math.log(6), math.log(3)]])
    probs = action_scores(verb, noun)
    expected = torch.tensor(
        [
            [[0.125, 0.075, 0.05], [0.375, 0.225, 0.15]],
            [[0.075, 0.45, 0.225], [0.025, 0.15, 0.075]],
        ]
    )
    assert probs.shape == (2, 2, 3)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.allclose(probs.sum(dim=(1, 2)), torch.ones(2))
    top, verbs, nouns = topk_actions(probs, k=3)
    assert torch.allclose(top, torch.tensor([[0.375, 0.225, 0.15], [0.45, 0.225, 0.15]]), atol=1e-6)
    assert verbs.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert nouns.tolist() == [[0, 1, 2], [1, 2, 1]]


def test_action_score_input_checks() -> None:
    with pytest.raises(ShapeError, match="same B"):
        action_scores(torch.zeros(2, 3), torch.zeros(3, 4))
    with pytest.raises(InputError, match="k must be in"):
        topk_actions(torch.zeros(1, 2, 3), k=7)


def test_epic_head_outputs_verb_and_noun_logits() -> None:
    head = EpicVerbNounHead(16, num_verbs=97, num_nouns=300, dropout=0.0)
    out = head(torch.randn(2, 16, 2, 3, 3))
    assert out["verb"].shape == (2, 97) and out["noun"].shape == (2, 300)
    assert action_scores(out["verb"], out["noun"]).shape == (2, 97, 300)


def test_linear_head_pools_maps_hand_computed() -> None:
    head = LinearHead(2, 1, dropout=0.0)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[1.0, 2.0]]))
        head.fc.bias.fill_(0.5)
    fmap = torch.zeros(1, 2, 2, 1, 2)
    fmap[0, 0] = 1.0  # channel 0 mean 1
    fmap[0, 1, :, 0, 1] = 2.0  # channel 1: half the cells 2, the rest 0 -> mean 1
    assert head(fmap).item() == pytest.approx(1.0 * 1 + 2.0 * 1 + 0.5)
    assert head(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(3.5)  # pooled features pass through
    with pytest.raises(ShapeError, match="expected 2 channels"):
        head(torch.zeros(1, 3))


@pytest.mark.parametrize("tokens", ["temporal", "spatiotemporal"])
def test_transformer_head_shapes_and_other_grids(tokens: str) -> None:
    torch.manual_seed(0)
    head = TransformerHead(24, 6, hidden_size=16, depth=1, num_heads=2, tokens=tokens, grid=(4, 3, 3)).eval()
    fmap = torch.randn(2, 24, 4, 3, 3)
    assert head(fmap).shape == (2, 6) and head.forward_features(fmap).shape == (2, 16)
    expected_pos = 1 + (4 if tokens == "temporal" else 36)
    assert head.pos_embed.shape == (1, expected_pos, 16)
    assert head(torch.randn(1, 24, 2, 5, 5)).shape == (1, 6)  # interpolated position embeddings
    head.reset_classifier(2)
    assert head(fmap).shape == (2, 2)


def test_transformer_head_token_modes_see_space_differently() -> None:
    torch.manual_seed(0)
    fmap = torch.randn(1, 8, 2, 3, 3)
    shuffled = fmap.flatten(3)[..., torch.randperm(9)].reshape(1, 8, 2, 3, 3)  # same permutation in every frame
    temporal = TransformerHead(8, 4, hidden_size=8, depth=1, num_heads=2, tokens="temporal", grid=(2, 3, 3)).eval()
    spatial = TransformerHead(8, 4, hidden_size=8, depth=1, num_heads=2, tokens="spatiotemporal", grid=(2, 3, 3))
    spatial.eval()
    with torch.no_grad():
        assert torch.allclose(temporal(fmap), temporal(shuffled), atol=1e-6)  # spatially pooled tokens
        assert not torch.allclose(spatial(fmap), spatial(shuffled), atol=1e-4)  # per-cell positions
        reversed_time = fmap.flip(2)
        assert not torch.allclose(temporal(fmap), temporal(reversed_time), atol=1e-4)  # time order matters


def test_heads_registry() -> None:
    assert HEADS.build("linear", in_features=8, num_classes=3)(torch.randn(2, 8)).shape == (2, 3)
    head = HEADS.build("transformer", in_channels=8, num_classes=3, hidden_size=8, num_heads=2, grid=(2, 2, 2))
    assert head(torch.randn(1, 8, 2, 2, 2)).shape == (1, 3)
    assert HEADS.build("epic_verb_noun", in_features=8)(torch.randn(1, 8))["noun"].shape == (1, 300)
    with pytest.raises(RegistryError, match="did you mean 'linear'"):
        HEADS.get("linaer")
