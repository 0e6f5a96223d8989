"""The boundary-matching (BM) layer of BMN, by gather + linear interpolation instead of a dense mask.

Geometry (Lin et al., "BMN: Boundary-Matching Network for Temporal Action
Proposal Generation", ICCV 2019, and its reference implementation). ``T``
snippets, ``D`` durations (``max_duration`` ≤ ``T``), ``N`` sample points,
``K`` sub-samples per point:

- cell ``(d, t)`` of a BM map ``[D, T]`` is the proposal covering snippets
  ``t .. t + d``, i.e. normalized time ``[t / T, (t + d + 1) / T]``; it is
  *valid* iff ``t + d < T`` (:meth:`BMGeometry.valid_mask`);
- its sampling region, in snippet-index coordinates, extends the proposal by
  ``prop_boundary_ratio · (d + 1)`` on both sides:
  ``[t - r(d+1), t + d + r(d+1)]``, split into ``N·K`` evenly spaced points
  (both ends included); sample point ``n`` averages the ``K`` consecutive
  points ``nK .. nK + K - 1``;
- each point ``x`` is linearly interpolated between snippets ``⌊x⌋`` and
  ``⌊x⌋ + 1``; snippets outside ``[0, T - 1]`` count as zero, except that a
  point in ``(-1, 0)`` takes snippet 0 with full weight. That last rule is the
  reference's ``math.modf`` truncation toward zero, kept on purpose so that
  weights converted from the reference implementation see identical features.

Every valid cell touches at most ``2K`` snippets per sample point. Invalid
cells are all zero.

Implementations, all returning the BM feature map ``[B, C, N, D, T]`` of
snippet features ``[B, C, T]``:

- :class:`DenseBMLayer`: the reference formulation, a product with a dense
  sampling mask ``[T, N·D·T]`` (``4·T·N·D·T`` bytes: 128 MB at ``T = D = 100,
  N = 32``, 1 GB at ``T = D = 200``) and ``T`` multiply-adds per output value;
- :class:`BMLayer`: ``F.embedding_bag`` with per-sample weights over only the
  non-zero taps (≤ ``2K`` per output value, about 5.4 on average), with a
  custom backward that is the transposed bag sum; its tables (int32 indices,
  float32 weights, both directions) hold about ``16 · nnz + 4 · N·D·T``
  bytes (15 MB at ``T = D = 100, N = 32``: nnz ≈ 0.86 M), independent of
  batch and channels. The output is a permuted view of a ``[N, D, T, B, C]``
  buffer (call ``.contiguous()`` if you need ``[B, C, N, D, T]`` memory order).

:class:`BoundaryMatchingConv` is the BM layer followed by BMN's
``Conv3d(C, H, kernel=(N, 1, 1), stride=(N, 1, 1))``, which reduces the
sample-point axis. With ``impl="fused"`` it never materializes the BM map:
valid cells are processed in chunks (gather → matmul) and the backward pass
recomputes each chunk's BM features, so memory is ``O(B·H·D·T)`` instead of
``O(B·C·N·D·T)``. Its parameters have the reference's ``Conv3d`` shapes, so
converted weights load unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vidstruct.errors import ConfigError, ShapeError

__all__ = [
    "BMGeometry",
    "BMLayer",
    "BoundaryMatchingConv",
    "DenseBMLayer",
    "sample_cells",
]

Impl = Literal["fused", "gather", "dense"]
IMPLS: tuple[str, ...] = ("fused", "gather", "dense")


@dataclass(frozen=True)
class BMGeometry:
    """BM map sizes: ``temporal_scale`` T, ``max_duration`` D (``None``: T), ``num_sample`` N, ``num_sample_perbin`` K.

    ``prop_boundary_ratio``: context added on each side of a proposal, as a fraction of its length.
    """

    temporal_scale: int = 100
    max_duration: int | None = None
    num_sample: int = 32
    num_sample_perbin: int = 3
    prop_boundary_ratio: float = 0.5

    def __post_init__(self) -> None:
        for key in ("temporal_scale", "num_sample", "num_sample_perbin"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
        d = self.max_duration
        if d is not None and (not isinstance(d, int) or not 1 <= d <= self.temporal_scale):
            raise ConfigError(
                f"max_duration: expected an integer in [1, temporal_scale={self.temporal_scale}], got {d!r}"
            )
        if not math.isfinite(self.prop_boundary_ratio) or self.prop_boundary_ratio < 0:
            raise ConfigError(f"prop_boundary_ratio: expected a finite number ≥ 0, got {self.prop_boundary_ratio!r}")

    @property
    def T(self) -> int:
        return self.temporal_scale

    @property
    def D(self) -> int:
        return self.temporal_scale if self.max_duration is None else self.max_duration

    @property
    def N(self) -> int:
        return self.num_sample

    def valid_mask(self, device: torch.device | str | None = None) -> torch.Tensor:
        """``[D, T]`` bool: cell ``(d, t)`` lies inside the video (``t + d < T``)."""
        d = torch.arange(self.D, device=device).view(-1, 1)
        t = torch.arange(self.T, device=device).view(1, -1)
        return (t + d) < self.T

    def sample_positions(self, d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Sampling points ``[..., N, K]`` (float64, snippet-index coordinates) of cells ``(d, t)`` (broadcast)."""
        d = d.to(torch.float64)
        t = t.to(torch.float64)
        center_len = d + 1.0
        xmin = t - center_len * self.prop_boundary_ratio
        xmax = (t + d) + center_len * self.prop_boundary_ratio
        total = self.num_sample * self.num_sample_perbin
        step = (xmax - xmin) / (total - 1.0)
        ii = torch.arange(total, dtype=torch.float64, device=d.device)
        pos = xmin.unsqueeze(-1) + step.unsqueeze(-1) * ii
        return pos.reshape(*pos.shape[:-1], self.num_sample, self.num_sample_perbin)

    def interpolation(self, d: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Taps of cells ``(d, t)``: snippet ``index [..., N, 2K]`` (int64, clamped) and ``weight [..., N, 2K]``.

        Sample point ``n`` of the cell is ``Σ_j weight[..., n, j] · x[index[..., n, j]]``; taps that
        fall outside the video have weight 0 (float64; each point's weights sum to at most 1).
        """
        pos = self.sample_positions(d, t)
        pos = torch.where((pos > -1.0) & (pos < 0.0), torch.zeros_like(pos), pos)  # the reference's modf rule
        lo = torch.floor(pos)
        frac = pos - lo
        lo = lo.long()
        hi = lo + 1
        w_lo = (1.0 - frac) * ((lo >= 0) & (lo < self.T))
        w_hi = frac * ((hi >= 0) & (hi < self.T))
        index = torch.stack([lo, hi], dim=-1).clamp_(0, self.T - 1)
        weight = torch.stack([w_lo, w_hi], dim=-1) / self.num_sample_perbin
        shape = (*pos.shape[:-1], 2 * self.num_sample_perbin)
        return index.reshape(shape), weight.reshape(shape)

    def dense_mask(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The reference's sampling mask ``[T, N, D, T]``: ``bm[b, c, n, d, t] = Σ_s x[b, c, s] · mask[s, n, d, t]``.

        Built the way the reference writes it: each point ``x`` adds ``1 - dec`` at ``trunc(x)`` and
        ``dec`` at ``ceil(x)`` with ``dec = x - trunc(x)`` (``math.modf``), ignoring indices outside
        ``[0, T - 1]``; invalid cells are zero. One duration at a time (float64), cast to ``dtype``.
        """
        T, D, N = self.T, self.D, self.N
        mask = torch.zeros(T, N, D, T, dtype=dtype)
        t = torch.arange(T)
        for d in range(D):
            starts = t[: T - d]
            pos = self.sample_positions(torch.full_like(starts, d), starts)  # [S, N, K]
            down = torch.trunc(pos)
            dec = pos - down
            up = torch.ceil(pos)
            rows = torch.zeros(starts.numel(), N, T + 2, dtype=torch.float64)  # two spill slots for out-of-range
            for idx, w in ((down, 1.0 - dec), (up, dec)):
                slot = torch.where((idx >= 0) & (idx <= T - 1), idx, torch.full_like(idx, T)).long()
                rows.scatter_add_(2, slot, w)
            rows = rows[..., :T] / self.num_sample_perbin  # [S, N, T_src]
            mask[:, :, d, : T - d] = rows.permute(2, 1, 0).to(dtype)
        return mask


def _check_features(x: torch.Tensor, T: int, channels: int | None = None) -> None:
    if x.ndim != 3 or x.shape[-1] != T or (channels is not None and x.shape[1] != channels):
        want = f"[B, {channels if channels is not None else 'C'}, {T}]"
        raise ShapeError(f"snippet features: expected {want} (batch, channels, temporal_scale), got {tuple(x.shape)}")


@dataclass
class _Bags:
    """Sparse taps of ``R`` output rows over ``T`` sources, in ``embedding_bag`` form, both directions.

    Forward: row ``r`` = ``Σ_{i ∈ [offsets[r], offsets[r+1])} weight[i] · table[source[i]]``.
    Backward (transpose): source ``s`` = ``Σ_{i ∈ [t_offsets[s], t_offsets[s+1])} t_weight[i] · grad[t_row[i]]``.
    """

    source: torch.Tensor
    weight: torch.Tensor
    offsets: torch.Tensor
    t_row: torch.Tensor
    t_weight: torch.Tensor
    t_offsets: torch.Tensor
    rows: int

    @classmethod
    def build(cls, index: torch.Tensor, weight: torch.Tensor, num_sources: int) -> _Bags:
        """From dense taps ``index [R, J]`` / ``weight [R, J]`` (zero weights are dropped)."""
        rows = index.shape[0]
        keep = weight != 0
        counts = keep.sum(dim=1)
        source = index[keep]
        w = weight[keep]
        offsets = torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])
        row_of = torch.arange(rows).repeat_interleave(counts)
        order = torch.argsort(source, stable=True)
        t_counts = torch.bincount(source, minlength=num_sources)
        t_offsets = torch.cat([t_counts.new_zeros(1), t_counts.cumsum(0)[:-1]])
        i32, f32 = torch.int32, torch.float32  # compact tables; weights are cast to the input's dtype at use
        return cls(
            source.to(i32), w.to(f32), offsets.to(i32), row_of[order].to(i32), w[order].to(f32), t_offsets.to(i32), rows
        )

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.source, self.weight, self.offsets, self.t_row, self.t_weight, self.t_offsets)

    def gather(self, table: torch.Tensor) -> torch.Tensor:
        """``table [S, F]`` → rows ``[R, F]``."""
        return F.embedding_bag(
            self.source, table, self.offsets, mode="sum", per_sample_weights=self.weight.to(table.dtype)
        )

    def scatter(self, grad: torch.Tensor) -> torch.Tensor:
        """Transpose of :meth:`gather`: ``grad [R, F]`` → ``[S, F]``."""
        return F.embedding_bag(
            self.t_row, grad.contiguous(), self.t_offsets, mode="sum", per_sample_weights=self.t_weight.to(grad.dtype)
        )


class _BufferedBags(nn.Module):
    """Holds :class:`_Bags` tensors as non-persistent buffers (they follow ``.to(device)``, stay out of state dicts)."""

    _names = ("source", "weight", "offsets", "t_row", "t_weight", "t_offsets")

    def __init__(self, bags: _Bags) -> None:
        super().__init__()
        self.rows = bags.rows
        for name, value in zip(self._names, bags.tensors(), strict=True):
            self.register_buffer(name, value, persistent=False)

    def bags(self) -> _Bags:
        return _Bags(*(getattr(self, n) for n in self._names), rows=self.rows)


class _BMGather(torch.autograd.Function):
    """``x [B, C, T]`` → BM map ``[B, C, N, D, T]`` (a view of ``[N·D·T, B·C]`` rows) with a memory-lean backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bags: _Bags, shape: tuple[int, int, int]) -> torch.Tensor:  # type: ignore[override]
        B, C, T = x.shape
        ctx.bags, ctx.x_shape = bags, x.shape
        out = bags.gather(x.permute(2, 0, 1).reshape(T, B * C))  # [N·D·T, B·C]
        return out.view(*shape, B, C).permute(3, 4, 0, 1, 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:  # type: ignore[override]
        B, C, T = ctx.x_shape
        bags: _Bags = ctx.bags
        rows_first = grad.permute(2, 3, 4, 0, 1)
        if rows_first.is_contiguous():  # the layout this layer produced: no copy
            g_table = bags.scatter(rows_first.reshape(bags.rows, B * C))
        else:  # e.g. a contiguous [B, C, N, D, T] gradient: transpose a few (b, c) columns at a time
            flat = grad.reshape(B * C, bags.rows)
            step = max(8, (1 << 24) // max(1, bags.rows))  # ≤ 64 MB of float32 transposed at a time
            g_table = grad.new_empty(T, B * C)
            for lo in range(0, B * C, step):
                g_table[:, lo : lo + step] = bags.scatter(flat[lo : lo + step].t())
        return g_table.view(T, B, C).permute(1, 2, 0), None, None


class BMLayer(nn.Module):
    """Snippet features ``[B, C, T]`` → BM feature map ``[B, C, N, D, T]`` by sparse gather (see module doc)."""

    def __init__(self, geometry: BMGeometry) -> None:
        super().__init__()
        self.geometry = g = geometry
        d = torch.arange(g.D).view(-1, 1)
        t = torch.arange(g.T).view(1, -1)
        index, weight = g.interpolation(d, t)  # [D, T, N, 2K]
        weight = weight * g.valid_mask().view(g.D, g.T, 1, 1)
        taps = index.shape[-1]
        index = index.permute(2, 0, 1, 3).reshape(-1, taps)  # rows in (n, d, t) order
        weight = weight.permute(2, 0, 1, 3).reshape(-1, taps)
        self.table = _BufferedBags(_Bags.build(index, weight, g.T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        _check_features(x, g.T)
        return _BMGather.apply(x, self.table.bags(), (g.N, g.D, g.T))


class DenseBMLayer(nn.Module):
    """The reference formulation ``x.view(B·C, T) @ mask [T, N·D·T]`` → ``[B, C, N, D, T]`` (tests, benchmarks)."""

    def __init__(self, geometry: BMGeometry, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.geometry = g = geometry
        self.register_buffer("sample_mask", g.dense_mask(dtype).view(g.T, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        _check_features(x, g.T)
        B, C, _ = x.shape
        out = torch.matmul(x.reshape(B * C, g.T), self.sample_mask.to(x.dtype))
        return out.view(B, C, g.N, g.D, g.T)


def sample_cells(x: torch.Tensor, geometry: BMGeometry, d: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """BM features of chosen cells: ``x [B, C, T]``, ``d / t [B, P]`` (long) → ``[B, C, P, N]``.

    Equal to ``bm_map[b, :, :, d[b, p], t[b, p]]`` of the full BM map (zeros for invalid cells),
    at ``O(B·C·P·N)`` cost. Differentiable in ``x``.
    """
    _check_features(x, geometry.T)
    B, C, _ = x.shape
    if d.shape != t.shape or d.ndim != 2 or d.shape[0] != B:
        raise ShapeError(f"cells: expected d and t of shape [B={B}, P], got {tuple(d.shape)} and {tuple(t.shape)}")
    index, weight = geometry.interpolation(d, t)  # [B, P, N, 2K]
    weight = weight * ((d + t) < geometry.T).unsqueeze(-1).unsqueeze(-1)
    P, N, J = index.shape[1:]
    taps = x.gather(2, index.reshape(B, 1, -1).expand(B, C, -1)).view(B, C, P, N, J)
    return (taps * weight.to(x.dtype).unsqueeze(1)).sum(-1)


class _FusedBMConv(torch.autograd.Function):
    """Valid-cell outputs ``[V, B, H]`` of BM sampling + the ``N``-reducing conv, chunk by chunk (see module doc)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, table: torch.Tensor, wmat: torch.Tensor, bias: torch.Tensor, chunks: list[_Bags], batch: int, n: int
    ) -> torch.Tensor:
        ctx.chunks, ctx.batch, ctx.n = chunks, batch, n
        ctx.save_for_backward(table, wmat)
        total = sum(c.rows // n for c in chunks) * batch
        out = table.new_empty(total, wmat.shape[0])
        start = 0
        for c in chunks:
            rows = (c.rows // n) * batch
            torch.addmm(bias, _chunk_rows(c, table, batch, n), wmat.t(), out=out[start : start + rows])
            start += rows
        return out.view(-1, batch, wmat.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        table, wmat = ctx.saved_tensors
        batch, n = ctx.batch, ctx.n
        need_table, need_w, need_b = ctx.needs_input_grad[:3]
        h = wmat.shape[0]
        channels = table.shape[1] // batch
        grad = grad.reshape(-1, h)
        g_table = torch.zeros_like(table) if need_table else None
        g_w = torch.zeros_like(wmat) if need_w else None
        start = 0
        for c in ctx.chunks:
            cells = c.rows // n
            gy = grad[start : start + cells * batch]
            start += cells * batch
            if g_w is not None:
                g_w.addmm_(gy.t(), _chunk_rows(c, table, batch, n))
            if g_table is not None:
                ga = (
                    (gy @ wmat).view(cells, batch, n, channels).permute(0, 2, 1, 3).reshape(cells * n, batch * channels)
                )
                g_table += c.scatter(ga)
        g_b = grad.sum(0) if need_b else None
        return g_table, g_w, g_b, None, None, None


def _chunk_rows(c: _Bags, table: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """BM features of a chunk's cells as a matrix ``[cells·B, N·C]`` (order ``(n, c)``)."""
    cells = c.rows // n
    channels = table.shape[1] // batch
    bm = c.gather(table).view(cells, n, batch, channels)
    return bm.permute(0, 2, 1, 3).reshape(cells * batch, n * channels)


class BoundaryMatchingConv(nn.Module):
    """BM layer + ``Conv3d(C, H, (N, 1, 1), stride=(N, 1, 1))``: ``[B, C, T]`` → ``[B, H, D, T]`` (no activation).

    ``impl``: ``"fused"`` (chunked, the BM map is never stored; default), ``"gather"``
    (:class:`BMLayer` then ``conv3d``) or ``"dense"`` (:class:`DenseBMLayer` then ``conv3d``, the
    reference). All three compute the same function with the same parameters ``weight
    [H, C, N, 1, 1]`` and ``bias [H]``; invalid cells get ``bias`` (their BM features are zero).
    ``chunk_rows``: BM rows (cells × N) per chunk of the fused path.
    """

    def __init__(
        self, in_channels: int, out_channels: int, geometry: BMGeometry, *, impl: Impl = "fused", chunk_rows: int = 4096
    ) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ConfigError(f"bm_impl: expected one of {', '.join(IMPLS)}, got {impl!r}")
        self.geometry = g = geometry
        self.impl = impl
        self.in_channels, self.out_channels = in_channels, out_channels
        conv = nn.Conv3d(in_channels, out_channels, kernel_size=(g.N, 1, 1), stride=(g.N, 1, 1))
        self.weight = conv.weight
        self.bias = conv.bias
        self.sampler: nn.Module | None = None
        self.chunks = nn.ModuleList()
        if impl == "gather":
            self.sampler = BMLayer(g)
        elif impl == "dense":
            self.sampler = DenseBMLayer(g)
        else:
            valid = g.valid_mask()
            dd, tt = valid.nonzero(as_tuple=True)
            self.register_buffer("valid_cells", dd * g.T + tt, persistent=False)
            index, weight = g.interpolation(dd, tt)  # [V, N, 2K]
            step = max(1, chunk_rows // g.N)
            for lo in range(0, dd.numel(), step):
                idx = index[lo : lo + step].reshape(-1, index.shape[-1])
                w = weight[lo : lo + step].reshape(-1, index.shape[-1])
                self.chunks.append(_BufferedBags(_Bags.build(idx, w, g.T)))

    def extra_repr(self) -> str:
        g = self.geometry
        return f"{self.in_channels}, {self.out_channels}, T={g.T}, D={g.D}, N={g.N}, impl={self.impl!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        _check_features(x, g.T, self.in_channels)
        if self.sampler is not None:
            bm = self.sampler(x)
            return F.conv3d(bm, self.weight, self.bias, stride=(g.N, 1, 1)).squeeze(2)
        B, C, _ = x.shape
        H = self.out_channels
        chunks = [c.bags() for c in self.chunks]  # type: ignore[union-attr]
        with torch.autocast(x.device.type, enabled=False):  # one dtype throughout the custom kernel
            dtype = torch.promote_types(x.dtype, self.weight.dtype)
            table = x.to(dtype).permute(2, 0, 1).reshape(g.T, B * C)
            wmat = self.weight.to(dtype).view(H, C, g.N).transpose(1, 2).reshape(H, g.N * C)  # columns in (n, c) order
            bias = self.bias.to(dtype)
            y = _FusedBMConv.apply(table, wmat, bias, chunks, B, g.N)  # [V, B, H]
            full = bias.view(1, 1, H).expand(g.D * g.T, B, H).index_copy(0, self.valid_cells, y)
        return full.view(g.D, g.T, B, H).permute(2, 3, 0, 1)
