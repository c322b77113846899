#!/usr/bin/env python3
"""hpt quickstart: a small neural network trained in pure Python, tuned by hpt.

A one-hidden-layer network (tanh units, sigmoid output) learns the "two moons" problem: two
interleaved, noisy half circles in the plane. Every hyperparameter matters: too small a
learning rate never converges, too large a one (or too much momentum) overshoots, a couple of
hidden units cannot bend the boundary enough, weight decay trades fit for smoothness, the
batch size sets the number of updates per epoch, and the optimizer changes all of that.

    python3 train.py --lr=0.1 --momentum=0.9 --optimizer=momentum --hidden=8

Each epoch prints a Katib-style line (``epoch=3 loss=0.3121 accuracy=0.8917``, validation
metrics), so hpt's (or Katib's) StdOut collector works, and, when run as an hpt trial
(HPT_ENDPOINT set), reports ``loss`` and ``accuracy`` with step=epoch through hpt_client.
The dataset is the same for every trial; ``--seed`` (default: the trial's seed from hpt, else
0) only drives the weight initialization and the shuffling. Needs only the standard library
(and hpt_client under hpt). Takes about a second.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from typing import List, Sequence, Tuple

try:
    import hpt_client
except ImportError:  # running standalone, without PYTHONPATH=<build>/python
    hpt_client = None

DATA_SEED = 1234  # fixed: every trial sees the same data
N_TRAIN = 300
N_VAL = 120
NOISE = 0.2
GRAD_CLIP = 5.0  # global gradient norm clip keeps bad settings finite (just bad)


def make_moons(n: int, rng: random.Random) -> List[Tuple[float, float, int]]:
    data = []
    for i in range(n):
        label = i % 2
        t = rng.uniform(0.0, math.pi)
        if label == 0:
            x, y = math.cos(t), math.sin(t)
        else:
            x, y = 1.0 - math.cos(t), 0.5 - math.sin(t)
        data.append((x + rng.gauss(0.0, NOISE), y + rng.gauss(0.0, NOISE), label))
    return data


class Model:
    """Parameters in one flat list: per hidden unit j, [w_j0, w_j1, b_j, v_j]; then the output
    bias. Hidden h_j = tanh(w_j . x + b_j); output z = sum_j v_j h_j + c; p = sigmoid(z)."""

    def __init__(self, hidden: int, rng: random.Random):
        self.hidden = hidden
        self.theta: List[float] = []
        for _ in range(hidden):
            self.theta += [rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0), 0.0,
                           rng.gauss(0.0, 1.0 / math.sqrt(hidden))]
        self.theta.append(0.0)

    def logit(self, x0: float, x1: float) -> float:
        th = self.theta
        z = th[-1]
        for k in range(0, 4 * self.hidden, 4):
            z += th[k + 3] * math.tanh(th[k] * x0 + th[k + 1] * x1 + th[k + 2])
        return z

    def gradient(self, batch: Sequence[Tuple[float, float, int]]) -> List[float]:
        """Mean binary cross-entropy gradient over the batch."""
        th = self.theta
        grad = [0.0] * len(th)
        scale = 1.0 / len(batch)
        for x0, x1, label in batch:
            hs = [math.tanh(th[k] * x0 + th[k + 1] * x1 + th[k + 2])
                  for k in range(0, 4 * self.hidden, 4)]
            z = th[-1] + sum(th[4 * j + 3] * h for j, h in enumerate(hs))
            dz = (_sigmoid(z) - label) * scale
            grad[-1] += dz
            for j, h in enumerate(hs):
                k = 4 * j
                dh = dz * th[k + 3] * (1.0 - h * h)
                grad[k] += dh * x0
                grad[k + 1] += dh * x1
                grad[k + 2] += dh
                grad[k + 3] += dz * h
        return grad

    def evaluate(self, data: Sequence[Tuple[float, float, int]]) -> Tuple[float, float]:
        """(mean binary cross-entropy, accuracy)."""
        loss = 0.0
        correct = 0
        for x0, x1, label in data:
            z = self.logit(x0, x1)
            # log(1 + exp(-|z|)) + max(z, 0) - label * z, stable for any z
            loss += math.log1p(math.exp(-abs(z))) + max(z, 0.0) - label * z
            correct += int((z > 0.0) == (label == 1))
        return loss / len(data), correct / len(data)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Optimizer:
    """sgd, momentum (heavy ball) or adam (beta1 = momentum); L2 weight decay on all weights."""

    def __init__(self, kind: str, lr: float, momentum: float, weight_decay: float, size: int):
        self.kind, self.lr, self.momentum, self.weight_decay = kind, lr, momentum, weight_decay
        self.m = [0.0] * size
        self.v = [0.0] * size
        self.t = 0

    def step(self, theta: List[float], grad: List[float]) -> None:
        norm = math.sqrt(sum(g * g for g in grad))
        clip = GRAD_CLIP / norm if norm > GRAD_CLIP else 1.0
        wd, lr, mu = self.weight_decay, self.lr, self.momentum
        self.t += 1
        if self.kind == "adam":
            beta2 = 0.999
            c1 = 1.0 - mu ** self.t if mu > 0 else 1.0
            c2 = 1.0 - beta2 ** self.t
        for i, g in enumerate(grad):
            g = g * clip + wd * theta[i]
            if self.kind == "sgd":
                theta[i] -= lr * g
            elif self.kind == "momentum":
                self.m[i] = mu * self.m[i] + g
                theta[i] -= lr * self.m[i]
            else:
                self.m[i] = mu * self.m[i] + (1.0 - mu) * g
                self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * g * g
                theta[i] -= lr * (self.m[i] / c1) / (math.sqrt(self.v[i] / c2) + 1e-8)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="hpt quickstart: tune a tiny network on two moons.")
    p.add_argument("--lr", "--learning-rate", "--learning_rate", dest="lr", type=float,
                   default=0.1, help="learning rate, > 0 (try 0.001 .. 1, log scale)")
    p.add_argument("--momentum", type=float, default=0.9,
                   help="momentum (adam: beta1), in [0, 1) (try 0 .. 0.99)")
    p.add_argument("--weight-decay", "--weight_decay", dest="weight_decay", type=float,
                   default=0.0, help="L2 weight decay, >= 0 (try 0 .. 0.01)")
    p.add_argument("--hidden", "--hidden-units", "--hidden_units", dest="hidden", type=int,
                   default=8, help="hidden units, >= 1 (try 2 .. 32)")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=16,
                   help="minibatch size, >= 1 (try 4 .. 64)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default="momentum")
    p.add_argument("--epochs", type=int, default=20, help="epochs, >= 1")
    p.add_argument("--seed", type=int, default=None,
                   help="initialization/shuffling seed (default: the trial's seed, else 0)")
    args = p.parse_args(argv)
    if not args.lr > 0:
        p.error(f"--lr={args.lr}: the learning rate must be > 0")
    if not 0.0 <= args.momentum < 1.0:
        p.error(f"--momentum={args.momentum}: must be in [0, 1)")
    if not args.weight_decay >= 0:
        p.error(f"--weight-decay={args.weight_decay}: must be >= 0")
    for name in ("hidden", "batch_size", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)}: must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    under_hpt = bool(os.environ.get("HPT_ENDPOINT"))
    if under_hpt and hpt_client is None:
        print("train.py: HPT_ENDPOINT is set but hpt_client cannot be imported; set "
              "PYTHONPATH=<hpt build>/python", file=sys.stderr)
        return 2
    try:
        seed = args.seed
        if seed is None:
            seed = hpt_client.seed() if under_hpt else 0

        data_rng = random.Random(DATA_SEED)
        train = make_moons(N_TRAIN, data_rng)
        val = make_moons(N_VAL, data_rng)
        rng = random.Random(seed)
        model = Model(args.hidden, rng)
        opt = Optimizer(args.optimizer, args.lr, args.momentum, args.weight_decay,
                        len(model.theta))

        for epoch in range(1, args.epochs + 1):
            rng.shuffle(train)
            for start in range(0, len(train), args.batch_size):
                opt.step(model.theta, model.gradient(train[start:start + args.batch_size]))
            loss, accuracy = model.evaluate(val)
            print(f"epoch={epoch} loss={loss:.4f} accuracy={accuracy:.4f}", flush=True)
            if under_hpt:
                hpt_client.report({"loss": loss, "accuracy": accuracy}, step=epoch,
                                  final=epoch == args.epochs)
    except RuntimeError as e:  # hpt_client.HptError, or an incomplete trial environment
        print(f"train.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
