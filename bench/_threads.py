"""One intra-op thread for every CPU computation of a run, whatever the machine and ``--slots``.

torch's and BLAS' float reductions depend on how many threads split them: the digits target trained with 1 and
with 2 threads differs in its weights' last bits. With the libraries' default (one thread per core) a sequential
run, each of ``--slots N`` and a machine with more cores would each give other numbers for the same seed, split and
code (on the same kind of CPU: BLAS picks other kernels for other instruction sets); and N slots ran N x cores
threads (two slots on 2 cores spun 4 OpenMP threads: training ~15x slower). A run pins one thread in its process
and, through the environment, in the workers it starts. Parallelism on a CPU comes from ``--slots`` (one per core).
Small models lose little: on the loaded 2-core machine the digits target trained in 5.6 s on one thread against
16.3 s on two.
"""

from __future__ import annotations

import os
import sys

__all__ = ["CPU_THREADS", "THREAD_ENVS", "pin_cpu_threads"]

CPU_THREADS = 1
THREAD_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_pinned_pools = False


def pin_cpu_threads() -> None:
    """Pin this process, and the processes it starts, to ``CPU_THREADS`` intra-op threads (an explicit
    ``OMP_NUM_THREADS`` included: the numbers must not depend on it). GPU runs too: their attacks train models on
    the CPU (ML-Leaks' and the trajectory attack's), and a run's numbers must not depend on how its device was named.
    Stays in force for the rest of the process (a notebook that called ``bench.run``)."""
    global _pinned_pools
    os.environ.update({name: str(CPU_THREADS) for name in THREAD_ENVS})  # read by libraries loaded from now on
    if "torch" in sys.modules:  # already loaded: its pool was sized at import
        sys.modules["torch"].set_num_threads(CPU_THREADS)
    if not _pinned_pools and "numpy" in sys.modules:  # numpy's BLAS, started when numpy was imported
        from threadpoolctl import threadpool_limits

        threadpool_limits(CPU_THREADS)
        _pinned_pools = True
