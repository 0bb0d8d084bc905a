"""Benchmark: 16 shadow models, batched (fit_many) vs one at a time, for the digits and fashion-mnist MLP recipes.

On a CPU stacking pays where a minibatch step is overhead-bound (digits' small MLP: ≥ 3x asserted); fashion-mnist's
784-512-10 MLP is compute-bound on 2 cores, where the measured ratio is reported (and the harness trains one at a time
there unless PRIVBENCH_BATCHED_SHADOWS forces stacking). Accuracy must agree within 1 point in both.

Run apart from the unit tests (see README, "Benchmarks"). ``PRIVBENCH_BENCH_EPOCHS`` shortens the
recipe (default: the track's full 40 epochs); the speed ratio is per epoch, so a shorter run measures it too.
"""

import os
import time

import numpy as np
import pytest

pytestmark = pytest.mark.benchmark


@pytest.mark.parametrize("track_name, min_speedup", [("digits", 3.0), ("fashion-mnist", None)])
def test_batched_vs_one_at_a_time(benchmark, tmp_path, monkeypatch, track_name, min_speedup):
    from bench._models import ModelFactory
    from bench._shadows import ShadowSource
    from bench.testing import make_session
    from bench.training import accuracy

    session = make_session(cache_dir=tmp_path / "cache")
    try:
        track, data, split = session.track(track_name)
    except Exception as exc:  # pragma: no cover - no local copy and no network
        pytest.fail(f"fashion-mnist data is needed for this benchmark (apt-get install dataset-fashion-mnist): {exc}")
    n = int(os.environ.get("PRIVBENCH_BENCH_SHADOWS", "16"))
    epochs = int(os.environ.get("PRIVBENCH_BENCH_EPOCHS", track.recipe.epochs))
    track.recipe = track.recipe.replace(epochs=epochs)  # instance attribute: this benchmark only
    defense = session.registry.defense("none")
    factory = ModelFactory(track, data, split.sha256, defense, session.cache)
    auto = factory.batchable()  # what the harness picks by itself on this device
    monkeypatch.setenv("PRIVBENCH_BATCHED_SHADOWS", "32")  # force stacking for the measurement
    source = ShadowSource(factory, track, split.candidates, split.population, 0, len(split.members), n)
    keep = source.inclusion(n, False)
    units = [split.population[row] for row in keep]
    seeds = [source.shadow_seed(i, False) for i in range(n)]
    test = data[split.nonmembers]

    batched = benchmark.pedantic(lambda: factory.get_many("shadow", units, seeds), rounds=1, iterations=1)
    t_batched = benchmark.stats.stats.total
    assert all(meta.get("batched") == n for _, meta, _, _ in batched)
    acc_batched = [accuracy(m, test.x, test.y) for m, _, _, _ in batched]

    t0 = time.perf_counter()
    acc_single = []
    for u, s in zip(units, seeds):
        trained = track.train(data[track.training_rows(data, u)], defense, seed=s)
        acc_single.append(accuracy(trained.module, test.x, test.y))
    t_single = time.perf_counter() - t0

    speedup = t_single / t_batched
    gap = abs(float(np.mean(acc_batched)) - float(np.mean(acc_single)))
    benchmark.extra_info.update(
        models=n, epochs=epochs, batched_seconds=round(t_batched, 2), single_seconds=round(t_single, 2), speedup=round(speedup, 2),
        acc_batched=round(float(np.mean(acc_batched)), 4), acc_single=round(float(np.mean(acc_single)), 4),
    )
    print(f"\n{n} {track_name} MLP shadows x {epochs} epochs: batched {t_batched:.1f}s, one at a time {t_single:.1f}s,"
          f" speedup {speedup:.2f}x; mean test accuracy {np.mean(acc_batched):.4f} vs {np.mean(acc_single):.4f}")
    benchmark.extra_info["auto_batched"] = auto
    assert gap <= 0.01
    if min_speedup is not None:
        assert speedup >= min_speedup
    assert auto == (speedup > 1.0)  # the harness's CPU heuristic picks the faster path
