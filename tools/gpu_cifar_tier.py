"""Measure cifar10's GPU tier on CIFAR-shaped data generated on the spot (no dataset can be fetched on a GPU lease).

Usage: ``python tools/gpu_cifar_tier.py OUT_DIR [--work DIR] [--scale 1.0] [--device cuda] [--targets 4] [--stages 1234]``

Stages, each printed as one JSON line and appended to ``OUT_DIR/gpu_tier.jsonl`` as soon as it ends:
  1. the synthetic CIFAR-10 archive (python-tarball format, 60,000 32×32×3 images; class templates plus noise, 10 %
     of labels flipped so that members are memorised);
  2. seconds per model for the airbench recipe (10 epochs on N = 15,000 pool examples, bf16, channels-last), the
     median of three after one warm-up, and its share of airbench's ≈ 3.3 A100-seconds for 50,000 examples;
  3. models per minute for the default ``cnn`` recipe, one at a time (``Trainer``) against 16 stacked (``fit_many``);
  4. LiRA end to end on 16 models (the pool design: every model on a random half of the 2N pool, 15 shadows per
     target), through ``bench.api.run``: wall time, and AUC / TPR@0.1 %FPR pooled over the targets.

``--scale`` shrinks the dataset and epochs for a dry run on a CPU (e.g. ``--scale 0.02 --device cpu``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import pickle
import statistics
import sys
import tarfile
import time
from pathlib import Path

import numpy as np


def write_synthetic_cifar10(folder: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """CIFAR-10's python tarball layout with generated images: smooth class templates, per-image noise, 10 % flipped labels."""
    rng = np.random.default_rng(seed)
    low = rng.normal(size=(10, 3, 8, 8)).astype(np.float32)
    templates = np.kron(low, np.ones((1, 1, 4, 4), dtype=np.float32))  # 10 × 3 × 32 × 32, smooth
    n = n_train + n_test
    y = rng.integers(0, 10, n)
    x = 0.5 + 0.12 * templates[y] + 0.22 * rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
    images = np.clip(x * 255, 0, 255).astype(np.uint8).reshape(n, 3072)
    flip = rng.random(n) < 0.1
    labels = np.where(flip, rng.integers(0, 10, n), y)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "cifar-10-python.tar.gz"
    per = n_train // 5
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        def add(name: str, obj: object) -> None:
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
        for i in range(5):
            sl = slice(i * per, (i + 1) * per)
            add(f"data_batch_{i + 1}", {b"data": images[sl], b"labels": labels[sl].tolist()})
        add("test_batch", {b"data": images[n_train:], b"labels": labels[n_train:].tolist()})
        add("batches.meta", {b"label_names": [f"class{k}".encode() for k in range(10)]})
    return archive


def _sync(device: str) -> None:
    import torch
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def stage_airbench(data, device: str, scale: float) -> dict:
    n_test = int(10000 * scale)
    from bench.training import Trainer
    from plugins.tracks.cifar import AIRBENCH, Cifar10

    n = int(Cifar10.split_sizes["members"] * scale)
    recipe = AIRBENCH if scale >= 1 else dataclasses.replace(AIRBENCH, epochs=1)
    rng = np.random.default_rng(1)
    times, accs = [], []
    for rep in range(4):
        rows = rng.choice(len(data.y) - n_test, n, replace=False)
        sub = type(data)(x=data.x[rows], y=data.y[rows])
        _sync(device)
        t = time.perf_counter()
        tm = Trainer(recipe, input_shape=(3, 32, 32), num_classes=10, seed=rep, device=device).fit(sub)
        _sync(device)
        times.append(time.perf_counter() - t)
        accs.append(_accuracy(tm.module, data.x[-n_test:], data.y[-n_test:], device))
    warm = times[1:]
    per_model = statistics.median(warm)
    return {"stage": "airbench_seconds_per_model", "n_train": n, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
            "cold_first_s": round(times[0], 3), "warm_s": [round(t, 3) for t in warm], "median_s": round(per_model, 3),
            "per_50k_example_epochs_s": round(per_model * 50000 / n, 3), "airbench_a100_s": 3.3,
            "test_acc": [round(a, 4) for a in accs]}


def _accuracy(model, x, y, device: str) -> float:
    import torch
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.as_tensor(x[i : i + 2048], device=device)).argmax(1).cpu() for i in range(0, len(x), 2048)])
    return float((pred.numpy() == y).mean())


def stage_batched(data, device: str, scale: float, n_models: int = 16) -> dict:
    from bench.training import Trainer, fit_many
    from plugins.tracks.cifar import Cifar10

    recipe = Cifar10.recipes["cnn"]
    if scale < 1:
        recipe = dataclasses.replace(recipe, epochs=1)
    n = int(Cifar10.split_sizes["members"] * scale)
    rng = np.random.default_rng(2)
    rows = [rng.choice(2 * n, n, replace=False) for _ in range(n_models)]
    seq = []
    for m in range(2):
        _sync(device)
        t = time.perf_counter()
        Trainer(recipe, input_shape=(3, 32, 32), num_classes=10, seed=m, device=device).fit(type(data)(x=data.x[rows[m]], y=data.y[rows[m]]))
        _sync(device)
        seq.append(time.perf_counter() - t)
    _sync(device)
    t = time.perf_counter()
    models = fit_many(recipe, data, rows, list(range(n_models)), input_shape=(3, 32, 32), num_classes=10, device=device)
    _sync(device)
    stacked = time.perf_counter() - t
    acc = _accuracy(models[0].module, data.x[-int(10000 * scale):], data.y[-int(10000 * scale):], device)
    one = seq[-1]
    return {"stage": "cnn_models_per_minute", "n_train": n, "epochs": recipe.epochs, "sequential_s_per_model": [round(s, 3) for s in seq],
            "sequential_models_per_min": round(60 / one, 2), "batched_models": n_models, "batched_s": round(stacked, 3),
            "batched_models_per_min": round(60 * n_models / stacked, 2), "speedup": round(one * n_models / stacked, 2),
            "batched_model0_test_acc": round(acc, 4)}


def stage_lira(folder: Path, out: Path, device: str, scale: float, targets: int) -> dict:
    from bench import Budget, api
    from plugins.tracks.cifar import Cifar10

    class Cifar10Lira16(Cifar10):
        """cifar10 with the GPU tier cut to 16 models (15 shadows per target), for this measurement only."""
        name = "cifar10-lira16"
        budgets = {**Cifar10.budgets, "gpu": Budget("gpu", max_shadows=15, queries_per_candidate=1024, device_seconds=7200, targets=targets)}
        if scale < 1:
            split_sizes = {k: int(v * scale) for k, v in Cifar10.split_sizes.items()}
            recipes = {**Cifar10.recipes, "airbench": dataclasses.replace(Cifar10.recipes["airbench"], epochs=1)}

    track = Cifar10Lira16()
    track.configure(recipe="airbench")
    t = time.perf_counter()
    res = api.run([track], ["lira", "loss"], budget="gpu", out_dir=out / "lira16", data_dir=str(folder), device=device,
                  cache_dir=str(out / "cache"), scenarios=False, progress=False, isolation="thread")
    wall = time.perf_counter() - t
    rows = []
    for rec in res.records:
        m = rec.metrics
        rows.append({"attack": rec.attack.name, "status": rec.status, "auc": m.get("auc"), "tpr@0.1%fpr": m.get("tpr@0.1%fpr"),
                     "tpr@0.1%fpr_ci": m.get("tpr@0.1%fpr_ci"), "tpr@1%fpr": m.get("tpr@1%fpr"), "error": rec.error,
                     "test_accuracy": (rec.utility or {}).get("test_accuracy") if isinstance(rec.utility, dict) else getattr(rec.utility, "test_accuracy", None)})
    return {"stage": "lira_16_models_end_to_end", "models": 16, "targets": targets, "recipe": "airbench", "wall_s": round(wall, 1), "cells": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--targets", type=int, default=4)
    ap.add_argument("--stages", default="1234")
    ap.add_argument("--work", default=None, help="folder for the data, model cache and run (default: OUT)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "gpu_tier.jsonl"

    def emit(d: dict) -> None:
        print(json.dumps(d), flush=True)
        with log.open("a") as f:
            f.write(json.dumps(d) + "\n")

    import torch
    emit({"stage": "env", "torch": torch.__version__, "device": a.device,
          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "scale": a.scale})
    n_train, n_test = int(50000 * a.scale), int(10000 * a.scale)
    t = time.perf_counter()
    work = Path(a.work) if a.work else out
    folder = work / "data"
    write_synthetic_cifar10(folder, n_train, n_test)
    from plugins.tracks.cifar import Cifar10
    track = Cifar10()
    track.data_dir = str(folder)
    data = track.load()
    emit({"stage": "data", "images": len(data.y), "seconds": round(time.perf_counter() - t, 1)})
    for s, fn in (("2", lambda: stage_airbench(data, a.device, a.scale)), ("3", lambda: stage_batched(data, a.device, a.scale)),
                  ("4", lambda: stage_lira(folder, work, a.device, a.scale, a.targets))):
        if s in a.stages:
            try:
                emit(fn())
            except Exception as e:  # one stage's failure keeps the others' numbers
                import traceback
                emit({"stage": s, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
