"""`split_attention`: `nn.MultiheadAttention` as separate projections, heads as groups."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    HeadAttention,
    channel_graph,
    measure_model,
    plan_channels,
    prune_channels,
    split_attention,
)

torch.set_num_threads(1)


def encoder(batch_first: bool = True) -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=batch_first)
    return nn.Sequential(
        nn.Linear(6, 16),
        nn.TransformerEncoder(layer, 2, enable_nested_tensor=False),
        nn.Linear(16, 3),
    ).eval()


def tokens(batch_first: bool = True) -> torch.Tensor:
    shape = (3, 5, 6) if batch_first else (5, 3, 6)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
def test_split_keeps_the_outputs(batch_first: bool) -> None:
    model = encoder(batch_first)
    dense = copy.deepcopy(model)
    heads = split_attention(model)
    assert heads == {"1.layers.0.self_attn.q_proj": 4, "1.layers.1.self_attn.q_proj": 4}
    assert all(isinstance(layer.self_attn, HeadAttention) for layer in model[1].layers)
    x = tokens(batch_first)
    with torch.no_grad():
        torch.testing.assert_close(model(x), dense(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mask", ["attn_float", "attn_bool", "causal", "padding"])
@pytest.mark.parametrize("average", [True, False])
def test_head_attention_matches_multihead_attention(mask: str, average: bool) -> None:
    torch.manual_seed(2)
    reference = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    holder = nn.Sequential(copy.deepcopy(reference))
    split_attention(holder)
    x = torch.randn(3, 4, 8, generator=torch.Generator().manual_seed(3))
    kwargs: dict[str, object] = {"average_attn_weights": average}
    if mask == "attn_float":
        kwargs["attn_mask"] = torch.randn(3 * 2, 4, 4, generator=torch.Generator().manual_seed(4))
    elif mask == "attn_bool":
        kwargs["attn_mask"] = torch.ones(4, 4, dtype=torch.bool).triu(1)
    elif mask == "causal":
        kwargs["attn_mask"] = nn.Transformer.generate_square_subsequent_mask(4)
        kwargs["is_causal"] = True
    else:
        kwargs["key_padding_mask"] = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]]).bool()
    with torch.no_grad():
        out, weights = holder[0](x, x, x, **kwargs)
        out_ref, weights_ref = reference(x, x, x, **kwargs)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights, weights_ref, rtol=1e-5, atol=1e-6)


def test_heads_leave_a_transformer_encoder_physically() -> None:
    model = encoder()
    split_attention(model)
    x = tokens()
    graph = channel_graph(model, x, ignored=["0"])
    assert graph.names == [
        "1.layers.0.self_attn.q_proj",
        "1.layers.0.linear1",
        "1.layers.1.self_attn.q_proj",
        "1.layers.1.linear1",
    ]
    assert [g.size for g in graph.groups] == [4, 32, 4, 32]  # heads, then MLP neurons
    plan = plan_channels(graph, [x], {"flops": 0.5 * graph.dense["flops"]})
    soft, physical = copy.deepcopy(model), copy.deepcopy(model)
    prune_channels(soft, x, plan, physical=False)
    prune_channels(physical, x, plan)
    with torch.no_grad():
        torch.testing.assert_close(physical(x), soft(x), rtol=1e-5, atol=1e-5)
    for i in range(2):
        attn = physical[1].layers[i].self_attn
        kept = int(plan.masks[f"1.layers.{i}.self_attn.q_proj"].sum())
        assert attn.num_heads == kept
        assert attn.k_proj.out_features == attn.v_proj.out_features == 4 * kept
        assert attn.out_proj.in_features == 4 * kept
    assert sum(int(plan.masks[n].sum()) for n in graph.names[::2]) < 8  # some head left
    cost = measure_model(physical, x, latency=False)
    np.testing.assert_allclose(
        [cost.flops, cost.params], [plan.usage["flops"], plan.usage["params"]]
    )
    assert cost.flops <= 0.5 * graph.dense["flops"] * (1 + 1e-9)


def test_unsplittable_attention_is_named() -> None:
    model = nn.Sequential(nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match=r"'0' cannot be split: kdim/vdim differ"):
        split_attention(model)
    assert isinstance(model[0], nn.MultiheadAttention)  # nothing replaced
