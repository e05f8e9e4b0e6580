"""Attention heads as prunable groups: `nn.MultiheadAttention` split into four projections.

`nn.MultiheadAttention` packs the query, key and value projections into one ``in_proj_weight``
and derives its head size from ``embed_dim // num_heads``, so a head cannot leave it: Torch-
Pruning can only shrink its embedding dimension (the residual stream). `split_attention`
replaces every such module by a `HeadAttention` with the same weights and the same outputs,
whose ``q_proj``, ``k_proj``, ``v_proj`` and ``out_proj`` are plain `nn.Linear` and whose head
count follows the projection width, so `channel_graph` sees one group per attention module
whose items are heads (``heads={"<name>.q_proj": head_dim}``, which `split_attention` returns).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HeadAttention", "attention_heads", "split_attention"]


class HeadAttention(nn.Module):
    r"""Multi-head attention with separate projections; ``num_heads`` follows their width.

    .. math::
        \mathrm{out} = W_o \,[\mathrm{softmax}(Q_h K_h^\top / \sqrt{d_h} + M) V_h]_{h}

    where :math:`Q_h, K_h, V_h` are head :math:`h`'s slices (``head_dim`` = :math:`d_h`
    columns each) of the query, key and value projections and :math:`M` the additive mask.
    Called like `nn.MultiheadAttention` (same arguments, same ``(output, weights)`` result), so
    it can stand in for ``self_attn`` of `nn.TransformerEncoderLayer`.

    Parameters
    ----------
    embed_dim : int
        Width of the input and output.
    num_heads : int
        Heads at construction; ``q_proj.out_features // head_dim`` afterwards.
    head_dim : int
    dropout : float
        Dropout on the attention weights in training mode.
    bias : bool
    batch_first : bool
        Inputs ``(batch, seq, feature)`` if true, else ``(seq, batch, feature)``.
    """

    in_proj_weight = None
    """Absent (the projections are separate); `nn.TransformerEncoderLayer` then skips its
    fused fast path."""
    in_proj_bias = None
    _qkv_same_embed_dim = False

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        head_dim: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        width = num_heads * head_dim
        self.embed_dim, self.head_dim = embed_dim, head_dim
        self.dropout, self.batch_first = dropout, batch_first
        self.q_proj = nn.Linear(embed_dim, width, bias=bias)
        self.k_proj = nn.Linear(embed_dim, width, bias=bias)
        self.v_proj = nn.Linear(embed_dim, width, bias=bias)
        self.out_proj = nn.Linear(width, embed_dim, bias=bias)

    @property
    def num_heads(self) -> int:
        return self.q_proj.out_features // self.head_dim

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Same arguments and result as `nn.MultiheadAttention.forward`."""
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        b, t, s, h = query.shape[0], query.shape[1], key.shape[1], self.num_heads
        q = self.q_proj(query).view(b, t, h, self.head_dim).transpose(1, 2)
        k = self.k_proj(key).view(b, s, h, self.head_dim).transpose(1, 2)
        v = self.v_proj(value).view(b, s, h, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        scores = scores + _additive(attn_mask, key_padding_mask, is_causal, b, h, t, s, q)
        weights = torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        out = self.out_proj((weights @ v).transpose(1, 2).reshape(b, t, h * self.head_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(1) if average_attn_weights else weights


def _as_additive(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros((), dtype=like.dtype).masked_fill(mask, float("-inf"))
    return mask.to(like.dtype)


def _additive(
    attn_mask: torch.Tensor | None,
    key_padding_mask: torch.Tensor | None,
    is_causal: bool,
    b: int,
    h: int,
    t: int,
    s: int,
    like: torch.Tensor,
) -> torch.Tensor:
    """The masks of `nn.MultiheadAttention` as one additive term, broadcast to (b, h, t, s)."""
    total = torch.zeros((), dtype=like.dtype)
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(t, s, dtype=torch.bool).triu(1)
    if attn_mask is not None:
        mask = _as_additive(attn_mask, like)
        total = total + (mask.view(b, h, t, s) if mask.dim() == 3 else mask)
    if key_padding_mask is not None:
        total = total + _as_additive(key_padding_mask, like).view(b, 1, 1, s)
    return total


def _supported(module: nn.MultiheadAttention) -> str:
    """Why ``module`` cannot be split ('' if it can)."""
    if not module._qkv_same_embed_dim:
        return "kdim/vdim differ from embed_dim"
    if module.bias_k is not None or module.add_zero_attn:
        return "add_bias_kv or add_zero_attn is set"
    return ""


def _split(module: nn.MultiheadAttention) -> HeadAttention:
    e, h = module.embed_dim, module.num_heads
    bias = module.in_proj_bias is not None
    out = HeadAttention(
        e, h, e // h, dropout=module.dropout, bias=bias, batch_first=module.batch_first
    )
    weight = module.in_proj_weight.detach()
    with torch.no_grad():
        for i, proj in enumerate((out.q_proj, out.k_proj, out.v_proj)):
            proj.weight.copy_(weight[i * e : (i + 1) * e])
            if bias:
                proj.bias.copy_(module.in_proj_bias.detach()[i * e : (i + 1) * e])
        out.out_proj.weight.copy_(module.out_proj.weight)
        if module.out_proj.bias is not None and out.out_proj.bias is not None:
            out.out_proj.bias.copy_(module.out_proj.bias)
    out.train(module.training)
    return out.to(device=weight.device, dtype=weight.dtype)


def attention_heads(model: nn.Module) -> dict[str, int]:
    """``"<module>.q_proj"`` to its head size, for every `HeadAttention` in ``model``."""
    return {
        f"{name}.q_proj" if name else "q_proj": m.head_dim
        for name, m in model.named_modules()
        if isinstance(m, HeadAttention)
    }


def split_attention(model: nn.Module) -> dict[str, int]:
    """Replace every `nn.MultiheadAttention` in ``model`` by an equal `HeadAttention`, in place.

    Parameters
    ----------
    model : nn.Module
        Modified in place: same outputs (to float rounding), parameters renamed from
        ``in_proj_weight`` to ``q_proj``/``k_proj``/``v_proj``. `nn.TransformerEncoder`'s
        nested-tensor fast path, which needs the packed weights, is switched off.

    Returns
    -------
    dict of str to int
        ``"<module>.q_proj"`` to its head size: the ``heads`` argument of `channel_graph`.

    Raises
    ------
    ValueError
        For a module with ``kdim``/``vdim`` other than ``embed_dim``, ``add_bias_kv`` or
        ``add_zero_attn``, naming it (nothing is replaced then).
    """
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]
    for name, module in found:
        if not name:
            raise ValueError("split_attention: wrap the nn.MultiheadAttention in a module")
        if why := _supported(module):
            raise ValueError(f"split_attention: {name!r} cannot be split: {why}")
    for name, module in found:
        parent, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(parent), leaf, _split(module))
    for m in model.modules():
        if isinstance(m, nn.TransformerEncoder):
            m.use_nested_tensor = False
    return attention_heads(model)
