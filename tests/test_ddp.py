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

    from swiftcast.commands import train as train_command
    from swiftcast.train import segmentation

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size))
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
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


def test_stream_sampler_shards_and_resumes() -> None:
    from swiftcast.train.loop import StreamBatchSampler, cosine_lr, iterations_per_epoch

    n, batch = 10, 2
    ranks = [list(StreamBatchSampler(n, batch, total_iters=3, seed=5, rank=r, world_size=2)) for r in range(2)]
    assert iterations_per_epoch(n, batch, world_size=2) == 2
    # epoch 0 = the first 5 samples of each rank: disjoint shards covering the dataset
    firsts = [[i for b in batches for i, _ in b][:5] for batches in ranks]
    assert sorted(firsts[0] + firsts[1]) == list(range(n))
    # the stream runs on into the next epoch (a new shuffle), and each sample has its own augmentation seed
    seeds = [s for b in ranks[0] for _, s in b]
    assert len(set(seeds)) == len(seeds)
    # starting at iteration 2 gives exactly the batches a full run sees there, whatever came before
    straight = list(StreamBatchSampler(n, batch, total_iters=5, seed=5))
    assert list(StreamBatchSampler(n, batch, total_iters=5, start_iter=2, seed=5)) == straight[2:]
    assert len(StreamBatchSampler(n, batch, total_iters=5, start_iter=2)) == 3
    assert list(StreamBatchSampler(n, batch, total_iters=5, seed=6)) != straight

    assert cosine_lr(4e-4, 0, 100) == 4e-4
    assert cosine_lr(4e-4, 100, 100) == 1e-6
    assert abs(cosine_lr(4e-4, 50, 100) - (4e-4 + 1e-6) / 2) < 1e-12
