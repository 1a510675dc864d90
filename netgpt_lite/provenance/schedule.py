"""The order stages run in: a slot takes the first stage, in plan order, whose inputs are finished.

:func:`ready_order` simulates it with each stage's last recorded time (the plan's estimate for ``--jobs``);
:func:`run_all` runs it for real, in threads that each wait on one stage's commands (the work is in their
processes).  Items are the planner's :class:`~netgpt_lite.provenance.pipeline.PlannedStage` rows: anything
with a ``stage`` that has a ``name`` and the names it comes ``after``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


def hours(seconds: float) -> str:
    """Seconds as "1.4 h" or "20 min", as the plan prints them."""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def ready_order(todo: Sequence, jobs: int, seconds: Callable[[object], float]) -> tuple[list, float]:
    """The order in which ``jobs`` slots start the stages of ``todo``, and the wall seconds that takes when
    stage ``p`` takes ``seconds(p)``: each time a slot is free it starts the first stage, in plan order, whose
    ``after`` stages in ``todo`` have finished (list scheduling; :func:`run_all` runs it for real).

    Example:
        >>> from types import SimpleNamespace
        >>> def planned(name, after=()):
        ...     return SimpleNamespace(stage=SimpleNamespace(name=name, after=after))
        >>> todo = [planned("adapter"), planned("e5", ("adapter",)), planned("e4", ("adapter",))]
        >>> took = {"adapter": 1.0, "e5": 12.0, "e4": 10.0}
        >>> order, wall = ready_order(todo, 2, lambda p: took[p.stage.name])
        >>> [p.stage.name for p in order], wall
        (['adapter', 'e5', 'e4'], 13.0)
        >>> ready_order(todo, 1, lambda p: took[p.stage.name])[1]
        23.0
    """
    names = {p.stage.name for p in todo}
    pending, running, finished, order, now = list(todo), [], set(), [], 0.0
    while pending or running:
        for p in list(pending):
            if len(running) < jobs and all(u in finished for u in p.stage.after if u in names):
                pending.remove(p)
                order.append(p)
                running.append((now + seconds(p), p))
        if not running:  # what is left waits on a stage that is not in todo's order: start it anyway
            p = pending.pop(0)
            order.append(p)
            running.append((now + seconds(p), p))
        running.sort(key=lambda item: item[0])
        now, done = running.pop(0)
        finished.add(done.stage.name)
    return order, now


def run_all(todo: Sequence, jobs: int, echo, run_one: Callable[[object], dict]) -> list[dict]:
    """Run ``todo`` ``jobs`` at a time in the order :func:`ready_order` describes; a stage made from a failed
    one is not started.  Raises one ``RuntimeError`` naming every failure, after the others finished."""
    names = {p.stage.name for p in todo}
    pending, running, finished, failed, done = list(todo), {}, set(), {}, []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            for p in list(pending):
                behind = [u for u in p.stage.after if u in names]
                if any(u in failed for u in behind):
                    pending.remove(p)
                    failed[p.stage.name] = RuntimeError(f"not run: {', '.join(u for u in behind if u in failed)} failed")
                elif len(running) < jobs and all(u in finished for u in behind):
                    pending.remove(p)
                    echo(f"[{len(done) + len(running) + len(failed) + 1}/{len(todo)}] {p.stage.name}: {p.stage.command()}")
                    running[pool.submit(run_one, p.stage)] = p
            if not running:  # cannot happen in plan order (a stage comes after what it is made from)
                for p in pending:
                    failed[p.stage.name] = RuntimeError("not run: it waits on a stage that never ran")
                break
            over, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in over:
                p = running.pop(future)
                if future.exception() is not None:
                    failed[p.stage.name] = future.exception()
                    echo(f"    {p.stage.name} failed: {future.exception()}")
                elif "kept" in future.result():
                    finished.add(p.stage.name)
                    echo(f"    {p.stage.name} {future.result()['kept']}")
                else:
                    finished.add(p.stage.name)
                    done.append(future.result())
                    echo(f"    {p.stage.name} done in {hours(done[-1]['wall_s'])} wall, {hours(done[-1]['cpu_s'])} CPU")
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(todo)} stages failed: "
                           + "; ".join(f"{n} ({e})" for n, e in failed.items())
                           + "; finished stages are kept: fix the cause and run the same command again")
    return done
