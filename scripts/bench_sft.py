"""Benchmark: wall time of the SFT run behind the shipped edge checkpoint (same recipe, same seeds).

Reads the shipped manifest's settings, regenerates the same training tasks, trains the tokenizer and
model from scratch and times ``train_sft`` (no evaluation).  Aim: < 5 min on 2 CPU cores.  The
machine may be shared with other jobs: the load average is printed with the result.

    OMP_NUM_THREADS=1 python scripts/bench_sft.py            # the full recipe (8 epochs)
    OMP_NUM_THREADS=1 python scripts/bench_sft.py --epochs 1 # one epoch, to extrapolate
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=None, help="override the shipped number of epochs")
    args = parser.parse_args()

    import torch

    from netgpt_lite.edge.sft import SFTSettings, train_runtime_s, train_sft
    from netgpt_lite.edge.tiny_lm import (
        EdgeModelConfig,
        build_model,
        sft_dataset,
        shipped_model_path,
        task_texts,
        train_tokenizer,
    )
    from netgpt_lite.tasks.generate import generate_tasks

    manifest = json.loads((shipped_model_path() / "manifest.json").read_text())
    settings = SFTSettings(**{**manifest["sft_settings"], "show_progress": False})
    if args.epochs is not None:
        settings = settings.replace(n_epochs=args.epochs)
    tasks = generate_tasks("train", manifest["n_train_tasks"], seed=manifest["data_seed"])
    tokenizer = train_tokenizer(task_texts(tasks), vocab_size=manifest["bpe_vocab_size"])
    model = build_model(tokenizer, EdgeModelConfig(**manifest["model_config"]), seed=settings.seed)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    _, history = train_sft(model, tokenizer, sft_dataset(tasks, tokenizer), settings)
    wall_s = time.perf_counter() - start
    print(f"SFT of the shipped recipe: {len(tasks)} tasks x {settings.n_epochs} epochs, "
          f"{torch.get_num_threads()} threads: {wall_s:.1f} s wall ({train_runtime_s(history):.1f} s in the "
          f"training loop); load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"manifest says {manifest['training_time_s']} s")  # fmt: skip


if __name__ == "__main__":
    main()
