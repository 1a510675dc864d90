"""The edge model in one worker that micro-batches concurrent requests, behind a bounded queue.

Handlers ``await batcher.submit(task)``; the worker takes the first waiting request, then gathers
more for at most ``max_wait_ms`` (or until ``max_batch``), and runs them through
:meth:`netgpt_lite.edge.agent.EdgeAgent.run` as one batch on a dedicated thread (the event loop never
blocks on the model, and the model is never called from two threads at once).  Greedy decoding
makes each answer independent of the batch it was in.  When ``max_queue`` requests are already
waiting, :meth:`EdgeBatcher.submit` raises :class:`QueueFull` at once (the service answers 503 with
``Retry-After``) instead of letting latency grow without bound.

Example:
    >>> import asyncio
    >>> class Echo:  # any object with run(tasks) -> one output per task
    ...     def run(self, tasks): return [t * 2 for t in tasks]
    >>> async def demo():
    ...     batcher = EdgeBatcher(Echo(), max_batch=4)
    ...     await batcher.start()
    ...     out = await asyncio.gather(*(batcher.submit(i) for i in range(3)))
    ...     await batcher.stop()
    ...     return out
    >>> asyncio.run(demo())
    [0, 2, 4]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class QueueFull(RuntimeError):
    """The edge queue holds ``max_queue`` requests: come back later."""


@dataclass
class BatchStats:
    """What the worker did: batches run, requests served, generation wall time (seconds) of each batch."""

    n_batches: int = 0
    n_requests: int = 0
    batch_sizes: list = field(default_factory=list)


class EdgeBatcher:
    """Micro-batching worker around an edge agent (see the module docstring).

    Args:
        agent: Anything with ``run(tasks) -> list`` (one output per task, in order).
        max_batch: Most requests generated together (>= 1).
        max_wait_ms: How long the first request of a batch waits for company, ms (>= 0).
        max_queue: Most requests waiting; one more raises :class:`QueueFull` (>= 1).
    """

    def __init__(self, agent, max_batch: int = 16, max_wait_ms: float = 2.0, max_queue: int = 256) -> None:
        if max_batch < 1 or max_queue < 1 or not max_wait_ms >= 0:
            raise ValueError(f"max_batch and max_queue must be >= 1 and max_wait_ms >= 0; got "
                             f"{max_batch}, {max_queue}, {max_wait_ms}")
        self.agent, self.max_batch, self.max_wait_s, self.max_queue = agent, max_batch, max_wait_ms / 1000.0, max_queue
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netgpt-edge")

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._worker = asyncio.create_task(self._run(), name="netgpt-edge-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, task):
        """The agent's output for ``task``.

        Raises:
            QueueFull: when ``max_queue`` requests are already waiting.
        """
        output, _ = await self.submit_timed(task)
        return output

    async def submit_timed(self, task):
        """Like :meth:`submit`, but ``(output, generation_s)``: the wall time of the batch it ran in."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started: await batcher.start() first")
        future = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((task, future))
        except asyncio.QueueFull:
            raise QueueFull(f"the edge queue is full ({self.max_queue} requests waiting)") from None
        return await future

    async def _gather(self) -> list:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            tasks = [task for task, _ in batch]
            start = time.perf_counter()
            try:
                outputs = await loop.run_in_executor(self._executor, self.agent.run, tasks)
                error = None
            except Exception as err:  # noqa: BLE001 - handed to every waiting request, the worker lives on
                outputs, error = [None] * len(batch), err
            elapsed_s = time.perf_counter() - start
            self.stats.n_batches += 1
            self.stats.n_requests += len(batch)
            self.stats.batch_sizes.append(len(batch))
            del self.stats.batch_sizes[:-1000]
            for (_, future), output in zip(batch, outputs):
                if future.done():  # the client went away
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result((output, elapsed_s))
