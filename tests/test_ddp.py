"""Two gloo processes on CPU train for 2 iterations through the real training entry point; the replicas must end
with identical weights (DDP gradient all-reduce + buffer broadcast), and only rank 0 writes the checkpoint."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, data: str, out: str, dump: str) -> None:
    import argparse

    from swiftcast.train import segmentation

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size))
    parser = argparse.ArgumentParser()
    segmentation.add_arguments(parser)
    args = parser.parse_args(["--data", data, "--out", out, "--iters", "2", "--batch-size", "2", "--size", "64x128",
                              "--crop", "64x64", "--workers", "0", "--threads", "1", "--device", "cpu",
                              "--val-max-images", "2"])
    result = segmentation.run_training(args)
    assert result.iteration == 2 and not torch.distributed.is_initialized()
    torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, Path(dump) / f"rank{rank}.pt")


def test_two_gloo_ranks_end_identical(tiny_cityscapes, tmp_path) -> None:
    out = tmp_path / "ckpt"
    mp.start_processes(_worker, args=(2, _free_port(), str(tiny_cityscapes), str(out), str(tmp_path)),
                       nprocs=2, join=True, start_method="spawn")
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key

    from swiftcast.models import build_model, load_checkpoint

    model, config = load_checkpoint(out)
    assert config["training"]["hardware"]["world_size"] == 2
    assert config["training"]["batch_size"] == 4  # 2 per rank
    saved = model.state_dict()
    assert all(torch.equal(saved[k], states[0][k]) for k in saved)
    # it did train: the weights moved away from the (seed-0) initialisation
    torch.manual_seed(0)
    init = build_model("swiftnet_rn18").state_dict()
    assert any(not torch.equal(init[k], saved[k]) for k in saved if saved[k].is_floating_point())
