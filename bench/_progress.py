"""Progress bars (tqdm, on stderr) for the runner; silent when a plan turns progress off."""

from __future__ import annotations

from typing import Any

__all__ = ["Progress", "EpochBar"]


class Progress:
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def bar(self, desc: str, total: int | None = None) -> Any:
        if not self.enabled:
            return None
        from tqdm.auto import tqdm

        return EpochBar(tqdm(total=total, desc=desc, leave=False, unit="epoch", dynamic_ncols=True))


class EpochBar:
    """Adapts a tqdm bar to the trainer's ``progress(done, total)`` callback."""

    def __init__(self, bar: Any):
        self._bar = bar

    def __call__(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
