#!/usr/bin/python3
"""The k8s-gpu example's trial: least-squares regression trained by mini-batch SGD.

On a node with a GPU and PyTorch it trains on the GPU (torch, device "cuda"); elsewhere (a
workstation, `hpt run examples/k8s-gpu/study.yaml`) the same model trains in pure Python on the
CPU. Every epoch prints ``epoch=N loss=X`` (hpt's and Katib's StdOut collector read it) and, under
hpt (HPT_ENDPOINT set), also reports the points through hpt_client.

    python3 train.py --lr=0.05 --batch-size=32 --epochs=5 [--cpu]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from typing import List, Sequence, Tuple

try:
    import hpt_client
except ImportError:  # plain `python3 train.py` outside hpt
    hpt_client = None

N_FEATURES = 8
N_TRAIN, N_VAL = 2048, 512
DATA_SEED = 1234


def make_data(n: int, rng: random.Random) -> List[Tuple[List[float], float]]:
    true_w = [((i % 3) - 1) * 0.5 + 0.1 * i for i in range(N_FEATURES)]
    out = []
    for _ in range(n):
        x = [rng.gauss(0.0, 1.0) for _ in range(N_FEATURES)]
        out.append((x, sum(w * v for w, v in zip(true_w, x)) + rng.gauss(0.0, 0.1)))
    return out


def train_cpu(args, train, val, rng) -> List[float]:
    w, losses = [0.0] * (N_FEATURES + 1), []
    for _ in range(args.epochs):
        rng.shuffle(train)
        for start in range(0, len(train), args.batch_size):
            batch = train[start:start + args.batch_size]
            grad = [0.0] * len(w)
            for x, y in batch:
                err = sum(wi * xi for wi, xi in zip(w, x)) + w[-1] - y
                for i, xi in enumerate(x):
                    grad[i] += 2 * err * xi / len(batch)
                grad[-1] += 2 * err / len(batch)
            w = [wi - args.lr * gi for wi, gi in zip(w, grad)]
        losses.append(sum((sum(wi * xi for wi, xi in zip(w, x)) + w[-1] - y) ** 2
                          for x, y in val) / len(val))
    return losses


def train_gpu(args, train, val, seed) -> List[float]:
    import torch  # only on the GPU path
    torch.manual_seed(seed)
    dev = torch.device("cuda")
    xs = torch.tensor([x for x, _ in train], device=dev)
    ys = torch.tensor([y for _, y in train], device=dev)
    vx = torch.tensor([x for x, _ in val], device=dev)
    vy = torch.tensor([y for _, y in val], device=dev)
    model = torch.nn.Linear(N_FEATURES, 1).to(dev)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    losses = []
    for _ in range(args.epochs):
        perm = torch.randperm(len(xs), device=dev)
        for start in range(0, len(xs), args.batch_size):
            idx = perm[start:start + args.batch_size]
            opt.zero_grad()
            loss = torch.mean((model(xs[idx]).squeeze(1) - ys[idx]) ** 2)
            loss.backward()
            opt.step()
        with torch.no_grad():
            losses.append(float(torch.mean((model(vx).squeeze(1) - vy) ** 2)))
    return losses


def gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="train on the CPU even with a GPU")
    args = ap.parse_args(argv)
    under_hpt = bool(os.environ.get("HPT_ENDPOINT"))
    if under_hpt and hpt_client is None:
        print("train.py: HPT_ENDPOINT is set but hpt_client cannot be imported", file=sys.stderr)
        return 2
    try:
        seed = hpt_client.seed() if under_hpt else 0
        data_rng = random.Random(DATA_SEED)
        train, val = make_data(N_TRAIN, data_rng), make_data(N_VAL, data_rng)
        use_gpu = not args.cpu and gpu_available()
        print(f"train.py: training on {'the GPU' if use_gpu else 'the CPU'}", file=sys.stderr)
        losses = (train_gpu(args, train, val, seed) if use_gpu
                  else train_cpu(args, train, val, random.Random(seed)))
        for epoch, loss in enumerate(losses, start=1):
            print(f"epoch={epoch} loss={loss:.6g}", flush=True)
            if under_hpt:
                hpt_client.report({"loss": loss}, step=epoch, final=epoch == len(losses))
    except RuntimeError as e:  # hpt_client.HptError, or an incomplete trial environment
        print(f"train.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
