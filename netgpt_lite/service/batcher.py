"""The edge model in one worker that micro-batches concurrent requests, behind a bounded queue.

Handlers ``await batcher.submit(task)``; the worker takes the first waiting request, then gathers
more for at most ``max_wait_ms`` (or until ``max_batch``), and runs them through
:meth:`netgpt_lite.edge.agent.EdgeAgent.run` as one batch on a dedicated thread (the event loop never
blocks on the model, and the model is never called from two threads at once).  Greedy decoding
makes each answer independent of the batch it was in.  When ``max_queue`` requests are already
waiting, :meth:`EdgeBatcher.submit` raises :class:`QueueFull` at once (the service answers 503 with
``Retry-After``) instead of letting latency grow without bound.

One request never fails another.  Before a batch runs, ``prepare(task)`` (the router's check that the
request can be rendered and tokenised, on the worker thread: the tokenizer is never shared between
threads) runs for each request alone; one that raises gets that exception and stays out of the batch.
If the batch itself still fails, each of its requests is run again alone, so only the one that fails
by itself gets an error (greedy decoding: the others' answers are the ones the batch would have given).

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class QueueFull(RuntimeError):
    """The edge queue holds ``max_queue`` requests: come back later."""


@dataclass
class BatchStats:
    """What the worker did: batches run, requests served, the size of each batch (the last 1,000)."""

    n_batches: int = 0
    n_requests: int = 0
    batch_sizes: list = field(default_factory=list)
    n_isolated_batches: int = 0  # batches that failed and were run again one request at a time


class EdgeBatcher:
    """Micro-batching worker around an edge agent (see the module docstring).

    Args:
        agent: Anything with ``run(tasks) -> list`` (one output per task, in order).
        max_batch: Most requests generated together (>= 1).
        max_wait_ms: How long the first request of a batch waits for company, ms (>= 0).
        max_queue: Most requests waiting; one more raises :class:`QueueFull` (>= 1).
        prepare: Called with each task alone, on the worker thread, before it joins a batch; what it
            raises is that request's error (None: no check).
    """

    def __init__(self, agent, max_batch: int = 16, max_wait_ms: float = 2.0, max_queue: int = 256,
                 prepare: Callable | None = None) -> None:
        if max_batch < 1 or max_queue < 1 or not max_wait_ms >= 0:
            raise ValueError(f"max_batch and max_queue must be >= 1 and max_wait_ms >= 0; got "
                             f"{max_batch}, {max_queue}, {max_wait_ms}")
        self.agent, self.max_batch, self.max_wait_s, self.max_queue = agent, max_batch, max_wait_ms / 1000.0, max_queue
        self.prepare = prepare
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

    def _prepared(self, tasks: list) -> list:
        """``prepare`` of each task alone: None where it passed, else the exception it raised."""
        errors = []
        for task in tasks:
            try:
                self.prepare(task)
                errors.append(None)
            except Exception as err:  # noqa: BLE001 - this request's own error, handed to it alone
                errors.append(err)
        return errors

    def _run_batch(self, tasks: list) -> list:
        """One result per task, in order: ``(output, seconds)`` or the exception of that task alone."""
        start = time.perf_counter()
        try:
            outputs = list(self.agent.run(tasks))
            if len(outputs) != len(tasks):
                raise RuntimeError(f"the edge returned {len(outputs)} outputs for {len(tasks)} requests")
        except Exception as err:  # noqa: BLE001 - some request broke the batch: find it by running each alone
            return [err] if len(tasks) == 1 else self._run_each(tasks)
        elapsed_s = time.perf_counter() - start
        return [(output, elapsed_s) for output in outputs]

    def _run_each(self, tasks: list) -> list:
        self.stats.n_isolated_batches += 1
        results = []
        for task in tasks:
            start = time.perf_counter()
            try:
                (output,) = self.agent.run([task])
                results.append((output, time.perf_counter() - start))
            except Exception as err:  # noqa: BLE001 - the error of this request alone
                results.append(err)
        return results

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [(task, future) for task, future in await self._gather() if not future.done()]
            if batch and self.prepare is not None:
                errors = await loop.run_in_executor(self._executor, self._prepared, [task for task, _ in batch])
                for (_, future), error in zip(batch, errors):
                    if error is not None and not future.done():
                        future.set_exception(error)
                batch = [item for item, error in zip(batch, errors) if error is None]
            if not batch:
                continue
            results = await loop.run_in_executor(self._executor, self._run_batch, [task for task, _ in batch])
            self.stats.n_batches += 1
            self.stats.n_requests += len(batch)
            self.stats.batch_sizes.append(len(batch))
            del self.stats.batch_sizes[:-1000]
            for (_, future), result in zip(batch, results):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
