"""Iterative pruning: schedules, masks only grow, and identical plans on every rank (gloo)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    broadcast_plan,
    fingerprint,
    iterative,
    schedule_density,
)
from pruneplan.solver import AllocationResult, Status  # noqa: E402

from ._models import mlp, tiny_cnn  # noqa: E402

LEVELS = [i / 16 for i in range(17)]


@pytest.mark.parametrize("schedule", ["geometric", "cubic"])
def test_schedules(schedule: str) -> None:
    densities = [schedule_density(schedule, t, 5, 0.8) for t in range(1, 6)]
    assert all(b <= a for a, b in itertools.pairwise(densities))
    if schedule == "geometric":
        np.testing.assert_allclose(densities[:3], [0.8, 0.64, 0.512])
        np.testing.assert_allclose(densities[-1], max(0.8**5, 0.2))
    else:
        np.testing.assert_allclose(densities[-1], 0.2)
    with pytest.raises(ValueError, match="schedule"):
        schedule_density("linear", 1, 5, 0.8)


def test_iterative_masks_only_grow(images: list[torch.Tensor]) -> None:
    model = tiny_cnn()
    masks: list[dict[str, torch.Tensor]] = []

    def train_fn(m: torch.nn.Module, t: int) -> None:
        masks.append({k: v.clone() for k, v in m.state_dict().items() if k.endswith("_mask")})
        with torch.no_grad():  # stand-in for training: weights move
            for p in m.parameters():
                p.add_(0.01 * torch.randn_like(p))

    reports = iterative(
        model,
        images,
        train_fn=train_fn,
        rounds=3,
        final_sparsity=0.6,
        method="exact",
        profile_options={"levels": LEVELS, "progress": False},
    )
    assert len(reports) == 3 and len(masks) == 3
    for before, after in itertools.pairwise(masks):
        for key in before:
            assert torch.all(after[key] <= before[key]), key
    dense = reports[0].dense_params
    for t, report in enumerate(reports, start=1):
        assert report.params <= schedule_density("geometric", t, 3, 0.6) * dense + 1e-9
    assert reports[-1].sparsity > reports[0].sparsity > 0


def fake_plan(rank: int) -> AllocationResult:
    return AllocationResult(
        status=Status.OPTIMAL,
        level_index={"0.weight": rank},
        sparsity={"0.weight": 0.5 + 0.1 * rank},
        objective=0.0,
        lower_bound=0.0,
        gap=0.0,
        usage={},
        limit={},
        method="test",
        solve_time_s=0.0,
        fingerprint=fingerprint(mlp()),
    )


def test_broadcast_without_a_group_just_solves() -> None:
    assert broadcast_plan(lambda: fake_plan(0)).sparsity == {"0.weight": 0.5}


def _worker(rank: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        calls: list[int] = []

        def make_plan() -> AllocationResult:
            calls.append(rank)
            return fake_plan(rank)

        result = broadcast_plan(make_plan)
        model = mlp(seed=0)  # same model, other calibration data per rank: one plan all the same
        reports = iterative(
            model,
            [torch.randn(32, 16, generator=torch.Generator().manual_seed(rank))],
            train_fn=lambda m, t: None,
            rounds=1,
            final_sparsity=0.5,
            profile_options={"levels": LEVELS, "progress": False},
        )
        torch.save(
            {
                "calls": calls,
                "sparsity": dict(result.sparsity),
                "kept": reports[0].params,
                "masks": {k: v for k, v in model.state_dict().items() if k.endswith("_mask")},
            },
            f"{out}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_get_rank0_plan(tmp_path: Path) -> None:
    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_worker, args=(init, str(tmp_path)), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    assert rank0["calls"] == [0] and rank1["calls"] == []  # only rank 0 solves
    assert rank0["sparsity"] == rank1["sparsity"] == {"0.weight": 0.5}
    assert rank0["kept"] == rank1["kept"]
    assert list(rank0["masks"]) == ["0.weight_mask", "2.weight_mask", "4.weight_mask"]
    for key, mask in rank0["masks"].items():
        torch.testing.assert_close(rank1["masks"][key], mask, rtol=0, atol=0)
