"""Benchmark: wall time of the SFT run behind the shipped edge checkpoint (same recipe, same seeds).

Reads the shipped manifest's settings and times the same from-scratch recipe
(``netgpt_lite.edge.sft.train_edge_from_scratch``: tokenizer, model, SFT; no evaluation).  Aim: < 5 min
on 2 CPU cores.  The machine may be shared with other jobs: the load average is printed with the result.

    OMP_NUM_THREADS=1 python scripts/bench_sft.py            # the full recipe (8 epochs)
    OMP_NUM_THREADS=1 python scripts/bench_sft.py --epochs 1 # one epoch, to extrapolate
"""

from __future__ import annotations

import argparse
import json
import os
import time

from netgpt_lite.edge.sft import SFTSettings, train_edge_from_scratch, train_runtime_s
from netgpt_lite.edge.tiny_lm import EdgeModelConfig, shipped_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=None, help="override the shipped number of epochs")
    args = parser.parse_args()

    import torch

    manifest = json.loads((shipped_model_path() / "manifest.json").read_text())
    recipe, sizes = manifest.get("config", manifest), manifest.get("sizes", manifest)  # Recorder layout or flat
    settings = SFTSettings(**{**recipe["sft_settings"], "show_progress": False})
    if args.epochs is not None:
        settings = settings.replace(n_epochs=args.epochs)
    n_tasks = sizes["n_train_tasks"]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    _, _, history = train_edge_from_scratch(n_tasks, recipe["data_seed"], settings,
                                            EdgeModelConfig(**recipe["model_config"]), recipe["bpe_vocab_size"])
    wall_s = time.perf_counter() - start
    print(f"SFT of the shipped recipe: {n_tasks} tasks x {settings.n_epochs} epochs, "
          f"{torch.get_num_threads()} threads: {wall_s:.1f} s wall with the tokenizer ({train_runtime_s(history):.1f} s "
          f"in the training loop); load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; "
          f"manifest says {manifest['training_time_s']} s")  # fmt: skip


if __name__ == "__main__":
    main()
