"""The BM layer: gather implementation == the reference's dense sampling mask (values and gradients)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidstruct.errors import ConfigError, ShapeError
from vidstruct.models.localization.bm_layer import (
    BMGeometry,
    BMLayer,
    BoundaryMatchingConv,
    DenseBMLayer,
    sample_cells,
)


def reference_mask(tscale: int, dscale: int, ratio: float, num_sample: int, per_bin: int) -> np.ndarray:
    """The BMN reference's ``_get_interp1d_mask`` algorithm, loop by loop: ``[T, N, D, T]`` float32."""

    def bin_mask(seg_xmin: float, seg_xmax: float) -> np.ndarray:
        plen_sample = float(seg_xmax - seg_xmin) / (num_sample * per_bin - 1.0)
        samples = [seg_xmin + plen_sample * ii for ii in range(num_sample * per_bin)]
        cols = []
        for idx in range(num_sample):
            vec = np.zeros([tscale])
            for sample in samples[idx * per_bin : (idx + 1) * per_bin]:
                upper = math.ceil(sample)
                dec, down = math.modf(sample)
                if 0 <= int(down) <= tscale - 1:
                    vec[int(down)] += 1 - dec
                if 0 <= int(upper) <= tscale - 1:
                    vec[int(upper)] += dec
            cols.append(vec / per_bin)
        return np.stack(cols, axis=1)  # [T, N]

    per_start = []
    for start in range(tscale):
        per_duration = []
        for duration in range(dscale):
            if start + duration < tscale:
                center_len = float(duration) + 1
                per_duration.append(bin_mask(start - center_len * ratio, start + duration + center_len * ratio))
            else:
                per_duration.append(np.zeros([tscale, num_sample]))
        per_start.append(np.stack(per_duration, axis=2))  # [T, N, D]
    return np.stack(per_start, axis=3).astype(np.float32)  # [T, N, D, T(start)]


@pytest.mark.parametrize(("t", "d", "n", "k", "ratio"), [(12, 12, 5, 3, 0.5), (10, 6, 4, 2, 0.25), (9, 9, 3, 1, 0.0)])
def test_dense_mask_is_the_reference_mask(t: int, d: int, n: int, k: int, ratio: float) -> None:
    geometry = BMGeometry(t, d, n, k, ratio)
    expected = torch.from_numpy(reference_mask(t, d, ratio, n, k))
    assert torch.equal(geometry.dense_mask(), expected)


def _features(b: int, c: int, t: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, c, t, generator=torch.Generator().manual_seed(seed), dtype=dtype).requires_grad_()


def _compare(geometry: BMGeometry, dtype: torch.dtype, tol: float, *, relative_grad: bool = False) -> None:
    x = _features(2, 3, geometry.T, dtype)
    dense = DenseBMLayer(geometry, dtype=dtype)(x)
    gather = BMLayer(geometry)(x)
    assert gather.shape == dense.shape == (2, 3, geometry.N, geometry.D, geometry.T)
    assert (gather - dense).abs().max().item() <= tol
    upstream = torch.randn(dense.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    (g_dense,) = torch.autograd.grad(dense, x, upstream)
    (g_gather,) = torch.autograd.grad(gather, x, upstream)
    # the same upstream values in the layout the gather layer produces ([N, D, T, B, C] memory order)
    rows_first = upstream.permute(2, 3, 4, 0, 1).contiguous().permute(3, 4, 0, 1, 2)
    (g_rows,) = torch.autograd.grad(BMLayer(geometry)(x), x, rows_first)
    scale = g_dense.abs().max().item() if relative_grad else 1.0  # float32 sums ~10⁴ terms: compare relative to scale
    assert (g_gather - g_dense).abs().max().item() / scale <= tol
    assert (g_rows - g_dense).abs().max().item() / scale <= tol


def test_gather_equals_dense_default_geometry_float32() -> None:
    _compare(BMGeometry(), torch.float32, 1e-5, relative_grad=True)  # T = D = 100, N = 32, K = 3


@pytest.mark.parametrize("geometry", [BMGeometry(100, None, 8, 3, 0.5), BMGeometry(64, 40, 32, 3, 0.5)])
def test_gather_equals_dense_float64(geometry: BMGeometry) -> None:
    _compare(geometry, torch.float64, 1e-5)


def test_invalid_cells_are_zero_and_valid_cells_are_the_samples() -> None:
    geometry = BMGeometry(16, 12, 4, 3, 0.5)
    x = torch.randn(1, 2, 16, generator=torch.Generator().manual_seed(0))
    out = BMLayer(geometry)(x)
    invalid = ~geometry.valid_mask()
    assert invalid.sum() > 0
    assert out[..., invalid].abs().max() == 0
    valid = geometry.valid_mask()
    dense = DenseBMLayer(geometry)(x)
    assert torch.allclose(out[..., valid], dense[..., valid], atol=1e-6)
    # hand-computed: on the ramp x[j] = j linear interpolation returns the sample position itself. Cell (d=0, t=8)
    # spans [8 - 0.5, 8 + 0 + 0.5] (length d + 1 = 1 widened by ratio 0.5 on each side): 4 bins x 3 samples at
    # 7.5 + i/11 (i = 0..11); bin n averages samples 3n..3n+2, i.e. 7.5 + (3n + 1)/11
    ramp = torch.arange(16, dtype=torch.float64).view(1, 1, 16)
    cell = BMLayer(geometry)(ramp)[0, 0, :, 0, 8]
    expected = torch.tensor([7.5 + (3 * n + 1) / 11 for n in range(4)], dtype=torch.float64)
    assert torch.allclose(cell, expected, atol=1e-12)


def test_gather_tables_are_far_smaller_than_the_dense_mask() -> None:
    geometry = BMGeometry()  # T = D = 100, N = 32
    table_bytes = sum(b.numel() * b.element_size() for b in BMLayer(geometry).buffers())
    mask_bytes = 4 * geometry.T * geometry.N * geometry.D * geometry.T  # the reference's float32 [T, N·D·T] mask
    assert table_bytes * 5 < mask_bytes
    assert not list(BMLayer(geometry).state_dict())  # tables are rebuilt, never saved


@pytest.mark.parametrize("impl", ["fused", "gather"])
def test_boundary_matching_conv_equals_dense_reference(impl: str) -> None:
    geometry = BMGeometry(24, 16, 6, 3, 0.5)
    torch.manual_seed(0)
    ref = BoundaryMatchingConv(5, 7, geometry, impl="dense").double()
    dense_mask = DenseBMLayer(geometry, dtype=torch.float64)
    ref.sampler = dense_mask  # float64 reference mask
    other = BoundaryMatchingConv(5, 7, geometry, impl=impl, chunk_rows=40).double()  # 40 rows: several chunks
    other.load_state_dict(ref.state_dict())
    x = _features(3, 5, 24, torch.float64)
    y_ref, y = ref(x), other(x)
    assert y.shape == (3, 7, 16, 24)
    assert (y - y_ref).abs().max().item() <= 1e-5
    upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads_ref = torch.autograd.grad(y_ref, (x, ref.weight, ref.bias), upstream)
    grads = torch.autograd.grad(y, (x, other.weight, other.bias), upstream)
    for a, b in zip(grads, grads_ref, strict=True):
        assert (a - b).abs().max().item() <= 1e-5
    invalid = ~geometry.valid_mask()
    assert torch.allclose(y[..., invalid], other.bias.view(1, 7, 1).expand(3, 7, int(invalid.sum())))


def test_sample_cells_matches_the_map() -> None:
    geometry = BMGeometry(20, 15, 6, 3, 0.5)
    x = torch.randn(2, 4, 20)
    full = BMLayer(geometry)(x)
    d = torch.tensor([[0, 3, 14, 10], [7, 0, 2, 14]])
    t = torch.tensor([[0, 5, 6, 19], [12, 19, 0, 0]])  # [0, 2] and [0, 3] are invalid (t + d ≥ T = 20)
    cells = sample_cells(x, geometry, d, t)
    assert cells.shape == (2, 4, 4, 6)
    for b in range(2):
        for p in range(4):
            assert torch.allclose(cells[b, :, p], full[b, :, :, d[b, p], t[b, p]], atol=1e-6)
    assert cells[0, :, 2].abs().max() == 0 and cells[0, :, 3].abs().max() == 0


def test_geometry_and_input_errors() -> None:
    with pytest.raises(ConfigError, match="max_duration"):
        BMGeometry(10, 11)
    with pytest.raises(ConfigError, match="num_sample"):
        BMGeometry(10, None, 0)
    with pytest.raises(ConfigError, match="bm_impl"):
        BoundaryMatchingConv(4, 4, BMGeometry(8), impl="sparse")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"\[B, C, 8\]"):
        BMLayer(BMGeometry(8, None, 4))(torch.randn(1, 3, 9))
