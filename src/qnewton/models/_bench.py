"""Measure forward+backward time of the small BERT / Mistral (and the paper DNN) on this machine.

    python -m qnewton.models._bench --batch 16 --seq 128 --reps 10

Prints ``measured_seconds`` (wall clock, ``time.perf_counter``): median and minimum over ``reps``
timed steps after ``warmup`` untimed ones, for each model and attention implementation. Random
byte ids; the loss is the model's own (``forward_loss``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from .loss import forward_loss
from .params import count_parameters


def _time_step(model, batch, reps: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + reps):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        forward_loss(model, batch).backward()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return times


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the measurement; print and return one JSON record per model."""
    from ..data.lm import mask_tokens
    from .lm import make_bert, make_mistral
    from .mlp import paper_dnn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 256, (args.batch, args.seq), generator=gen)
    causal = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    masked_ids, labels = mask_tokens(ids, seed=0)
    masked = {"input_ids": masked_ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    records = []
    for name, build, batch in (
        ("bert", make_bert, masked),
        ("mistral", make_mistral, causal),
    ):
        for attn in ("eager", "sdpa"):
            model = build(attn_implementation=attn)
            t = _time_step(model, batch, args.reps, args.warmup)
            records.append(
                {
                    "model": name,
                    "attn_implementation": attn,
                    "parameters": count_parameters(model),
                    "batch": [args.batch, args.seq],
                    "measured_seconds_median": statistics.median(t),
                    "measured_seconds_min": min(t),
                    "threads": torch.get_num_threads(),
                }
            )
            print(json.dumps(records[-1]), flush=True)
    dnn = paper_dnn()
    x = torch.randn(2048, 784, generator=gen)
    y = torch.randint(0, 10, (2048,), generator=gen)
    t = _time_step(dnn, (x, y), args.reps, args.warmup)
    records.append(
        {
            "model": "paper_dnn",
            "parameters": count_parameters(dnn),
            "batch": [2048, 784],
            "measured_seconds_median": statistics.median(t),
            "measured_seconds_min": min(t),
            "threads": torch.get_num_threads(),
        }
    )
    print(json.dumps(records[-1]), flush=True)
    return records


if __name__ == "__main__":  # pragma: no cover
    main()
