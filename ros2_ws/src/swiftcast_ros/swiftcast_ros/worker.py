"""A worker thread fed through a one-slot mailbox: it always processes the newest item.

Subscription callbacks only drop the message into the slot (microseconds), so the executor keeps receiving while
the model runs; a frame that is replaced before the worker got to it is stale and counted as dropped. Latency
stays bounded by one model pass instead of growing with a queue.
"""

from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class NewestFrameWorker(Generic[T]):
    """Runs ``process(item)`` on a daemon thread for the newest submitted item.

    ``process`` must not raise; exceptions are handed to ``on_error`` so a bad frame never ends the thread.
    """

    def __init__(self, process: Callable[[T], None], on_error: Callable[[BaseException], None], name: str) -> None:
        self._process = process
        self._on_error = on_error
        self._cond = threading.Condition()
        self._item: T | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Put ``item`` in the slot; True if it replaced one that was never processed (a dropped frame)."""
        with self._cond:
            dropped = self._item is not None
            self._item = item
            self._cond.notify()
        return dropped

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._item is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                item, self._item = self._item, None
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any single frame
                self._on_error(exc)
