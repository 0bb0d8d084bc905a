"""Benchmark: the harness's trainer on the fashion-mnist MLP recipe, as a fraction of this machine's float32 matmul peak.

The peak is measured in the same run (the best of several large ``torch.mm``), with the same torch threads.
Two FLOP counts, both reported:

- **model FLOPs** (asserted): 6 FLOPs per weight per example (2 forward, 4 backward), the count of
  "model FLOPs utilization" (Chowdhery et al. 2022, PaLM, appendix B). It depends on the model only, not on
  what an implementation skips, so it is the count under which the issue measured a plain loop at 74 %.
- **hardware FLOPs**: what is actually multiplied for the 784-512-10 MLP: forward 2·(784·512 + 512·10) per
  example, the weight gradients the same again, plus the hidden layer's input gradient 2·512·10 (the first
  layer's input gradient is never computed). About 2/3 of the model count on this net; on this 2-core CPU
  the step's matmuls alone run at about 77 % of the large-matmul peak, so no loop reaches 70 % of it.

A plain PyTorch loop (the reference a trainer cannot beat by much) is timed in the same run and reported
beside it. Asserted: the trainer reaches >= 70 % model-FLOPs utilization and is no slower than 1.15x the plain loop.

Run apart from the unit tests (see README, "Benchmarks"); ``PRIVBENCH_BENCH_EPOCHS`` shortens the recipe
(default: the track's 40 epochs; the ratio is per epoch, so a shorter run measures it too) and
``PRIVBENCH_BENCH_ROUNDS`` sets the rounds (default 3). On a shared machine, compare ratios from one run only:
a loaded machine slows small training steps far more than one large matmul.
"""

import os
import time

import numpy as np
import pytest

pytestmark = pytest.mark.benchmark

MIN_FRACTION_OF_PEAK = 0.70


def matmul_peak(n: int = 2048, rounds: int = 7) -> float:
    """float32 FLOP/s of the best of ``rounds`` (n×n)·(n×n) products."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(rounds))
    return 2 * n**3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def mlp_training_flops(sizes: list[int], examples: int, epochs: int) -> float:
    """Multiply-adds ×2 of forward, weight gradients and the input gradients of every layer but the first."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    per_example = sum(4 * i * o for i, o in layers) + sum(2 * i * o for i, o in layers[1:])
    return float(per_example) * examples * epochs


def mlp_model_flops(sizes: list[int], examples: int, epochs: int) -> float:
    """PaLM's model FLOPs: 6 per weight per example (biases are negligible and left out, as there)."""
    weights = sum(i * o for i, o in zip(sizes[:-1], sizes[1:]))
    return 6.0 * weights * examples * epochs


def plain_loop(recipe, x, y, seed: int = 0) -> float:
    """Seconds for the textbook PyTorch loop on the same recipe (SGD with momentum, cosine schedule)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    steps = recipe.epochs * -(-len(x) // recipe.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn, gen = nn.CrossEntropyLoss(), torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(recipe.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    return time.perf_counter() - t0


def test_trainer_reaches_the_matmul_peak_fraction(benchmark, tmp_path):
    import torch

    from bench.testing import make_session
    from bench.training import accuracy

    session = make_session(cache_dir=tmp_path)
    try:
        track, data, split = session.track("fashion-mnist")
    except Exception as exc:  # pragma: no cover - no local copy and no network
        pytest.fail(f"fashion-mnist data is needed for this benchmark (apt-get install dataset-fashion-mnist): {exc}")
    epochs = int(os.environ.get("PRIVBENCH_BENCH_EPOCHS", track.recipe.epochs))
    track.recipe = track.recipe.replace(epochs=epochs)  # instance attribute: this benchmark only
    assert track.recipe.arch == "mlp" and list(track.recipe.arch_params["hidden"]) == [512]
    defense = session.registry.defense("none")
    members, test = data[split.members], data[split.nonmembers]
    flops = mlp_training_flops([784, 512, 10], len(members), epochs)
    model_flops = mlp_model_flops([784, 512, 10], len(members), epochs)

    # Rounds interleave the peak, the trainer and the plain loop, so a busy machine's load hits all three alike;
    # the ratio is conservative: the fastest fit of each over the highest peak seen in the run.
    rounds = int(os.environ.get("PRIVBENCH_BENCH_ROUNDS", "3"))
    peaks, t_trainers, t_plains, trained = [], [], [], []

    def trainer():
        t0 = time.perf_counter()
        trained.append(track.train(members, defense, seed=0))
        t_trainers.append(time.perf_counter() - t0)

    def plain():
        t_plains.append(plain_loop(track.recipe, torch.as_tensor(members.x), torch.as_tensor(members.y)))

    def one_fit():  # odd rounds run the plain loop first: neither always follows the peak's large matmul
        peaks.append(matmul_peak())
        for fit in (trainer, plain) if len(peaks) % 2 else (plain, trainer):
            fit()

    benchmark.pedantic(one_fit, rounds=rounds, iterations=1)
    peak, t_trainer, t_plain = max(peaks), min(t_trainers), min(t_plains)
    trained = trained[0]
    ratio, ratio_plain = flops / t_trainer / peak, flops / t_plain / peak
    mfu, mfu_plain = model_flops / t_trainer / peak, model_flops / t_plain / peak
    acc = accuracy(trained.module, test.x, test.y)
    benchmark.extra_info.update(
        epochs=epochs, rounds=rounds, threads=torch.get_num_threads(), peak_gflops=round(peak / 1e9, 1), train_gflop=round(flops / 1e9, 1),
        trainer_seconds_all=[round(t, 2) for t in t_trainers], plain_seconds_all=[round(t, 2) for t in t_plains],
        trainer_seconds=round(t_trainer, 2), plain_seconds=round(t_plain, 2), trainer_fraction=round(ratio, 3),
        plain_fraction=round(ratio_plain, 3), trainer_mfu=round(mfu, 3), plain_mfu=round(mfu_plain, 3),
        test_accuracy=round(acc, 4),
    )
    print(f"\nfashion-mnist MLP x {epochs} epochs ({model_flops / 1e9:.0f} model GFLOP, {flops / 1e9:.0f} hardware GFLOP),"
          f" matmul peak {peak / 1e9:.1f} GFLOP/s on {torch.get_num_threads()} threads:"
          f" trainer {t_trainer:.2f}s = {mfu:.0%} MFU ({ratio:.0%} of peak in hardware FLOPs);"
          f" plain PyTorch loop {t_plain:.2f}s = {mfu_plain:.0%} MFU ({ratio_plain:.0%}); test accuracy {acc:.4f}")
    assert acc > 0.7  # it really trained
    assert mfu >= MIN_FRACTION_OF_PEAK
    assert t_trainer <= 1.15 * t_plain  # the harness adds little to the textbook loop


def test_flop_count():
    assert mlp_model_flops([784, 512, 10], 2, 3) == 6 * (784 * 512 + 512 * 10) * 6
    assert mlp_training_flops([784, 512, 10], 1, 1) == 4 * 784 * 512 + 4 * 512 * 10 + 2 * 512 * 10
    assert np.isclose(mlp_training_flops([4, 3], 10, 2), 20 * 4 * 4 * 3)
