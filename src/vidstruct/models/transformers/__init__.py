"""Video transformers: ViViT (joint, factorised encoder, factorised self-attention) and TimeSformer."""

from __future__ import annotations

from vidstruct.models.transformers.embeddings import TubeletEmbedding, resize_pos_embed
from vidstruct.models.transformers.timesformer import TimeSformer, timesformer_b
from vidstruct.models.transformers.vivit import (
    ViViTFactorisedEncoder,
    ViViTFactorisedSelfAttention,
    ViViTJoint,
    vivit_b_fe,
    vivit_b_fsa,
    vivit_b_joint,
)

__all__ = [
    "TimeSformer",
    "TubeletEmbedding",
    "ViViTFactorisedEncoder",
    "ViViTFactorisedSelfAttention",
    "ViViTJoint",
    "resize_pos_embed",
    "timesformer_b",
    "vivit_b_fe",
    "vivit_b_fsa",
    "vivit_b_joint",
]
