"""``netgpt-lite regenerate``: remake every stale shipped artifact, in dependency order, resumably.

A stage (:mod:`netgpt_lite.provenance.registry`) is rerun when one of its artifacts is

* **missing**, or its manifest cannot be read (the plan names the broken file);
* **stale**: the code it depends on (the import closure of its producing module) changed since it was
  made (:func:`~netgpt_lite.provenance.artifacts.artifact_status`);
* **behind** an artifact it is made from: that one's content changed after this one started, or it is
  rerun in this plan; then the stage is judged again when its turn comes, and kept when every artifact it
  is made from came out the same (:mod:`~netgpt_lite.provenance.content`: a remake with the same bytes, as
  deterministic training gives, leaves what was made from it fresh).

Everything else is kept: nothing is rerun because it is old.  The plan is printed first, each stage with
its reason and the time its artifact's own manifest says it took last time (wall and CPU seconds, with
the machine's core count), so a reader sees the bill before paying it.  Each stage runs its commands
(their output goes to ``runs/pipeline/logs/<stage>.log``), then copies what they wrote in ``runs/``
into the package, then checks that every artifact it owns now has a fresh manifest.  An interrupted or
failed run is resumed by the same command: finished stages are fresh and skipped, and the long commands
(E5 run by run, the synergy rounds, SFT from its checkpoints) resume from their own folders.

A maintained pipeline tool was tried first (DVC 3.67: ``dvc.yaml`` stages with uncached outputs kept in
git).  It hashes every declared dependency file again into ``dvc.lock``, a second record of what made an
artifact beside the manifests that the chapters and drift tests already read, it cannot estimate time,
and its dry run fails on a fresh checkout where an upstream output does not exist yet; the staleness and
ordering it would have replaced are the ~100 lines below, built on the manifests.

Example:
    >>> plan = make_plan()
    >>> [step.stage.name for step in plan][:2]
    ['edge_model', 'smollm2_adapter']
    >>> all(step.reason for step in plan if step.run)
    True
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from netgpt_lite.provenance.artifacts import artifact_status
from netgpt_lite.provenance.code import PACKAGE_DIR
from netgpt_lite.provenance.content import content_record, content_since, digests
from netgpt_lite.provenance.manifest import (
    TIME_FORMAT,
    atomic_write_json,
    machine,
    read_manifest,
)
from netgpt_lite.provenance.registry import STAGES, Stage, stage
from netgpt_lite.provenance.schedule import hours, ready_order, run_all

CHECKOUT = PACKAGE_DIR.parent
_TIMES_LOCK = threading.Lock()
LOG_DIR = Path("runs/pipeline/logs")
TIMES_FILE = "data/pipeline_times.json"
"""Under the package: each stage's wall and CPU seconds the last time ``regenerate`` ran it (shipped, so
that the next plan, and the README, can say what a stage costs)."""


@dataclass(frozen=True)
class PlannedStage:
    """One stage of a plan.

    Attributes:
        stage: The registry's stage.
        run: Whether it is rerun.
        reason: Why it is rerun (or why it is kept), one line.
        last_wall_s: Wall seconds its artifact's manifest records for the last run (None: unknown).
        last_cpu_s: CPU seconds likewise.
        last_cpus: The core count of the machine that made it.
    """

    stage: Stage
    run: bool
    reason: str
    last_wall_s: float | None = None
    last_cpu_s: float | None = None
    last_cpus: int | None = None

    def line(self) -> str:
        """One line of the printed plan."""
        if self.last_wall_s is None:
            took = "time of the last run unknown"
        else:
            took = f"last run {hours(self.last_wall_s)} wall"
            took += f", {hours(self.last_cpu_s)} CPU" if self.last_cpu_s is not None else ", CPU unknown"
            took += f" on {self.last_cpus} cores" if self.last_cpus else ""
        fetch = "; downloads its inputs" if self.stage.network and self.run else ""
        return f"  {'RUN ' if self.run else 'keep'}  {self.stage.name:<16} {self.reason} ({took}{fetch})"


def read_times(root: Path = PACKAGE_DIR) -> dict:
    """Stage name -> ``{"wall_s", "cpu_s", "cpus", "finished_utc"}`` of its last run by ``regenerate``
    (empty when none was recorded, or the file is unreadable: the plan then falls back on the manifests)."""
    try:
        times = json.loads((root / TIMES_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return times if isinstance(times, dict) else {}


def _manifest_time(manifest: dict) -> tuple[float | None, float | None]:
    """The wall and CPU seconds an artifact's manifest says its whole run took.  A resumed run's own ``wall_s``
    covers only its last invocation: E5 records its runs' total (``runs_seconds_total``, single-threaded, so
    CPU seconds too) and E4 its rounds' (``seconds_per_step["E4+E6"]["rounds_wall_s"]``, CPU unknown), summed
    over runs that ``workers`` processes computed side by side: the wall they took is that sum over ``workers``."""
    wall, cpu = manifest.get("wall_s"), manifest.get("cpu_s")
    total = manifest.get("runs_seconds_total")
    if total is not None and (wall is None or total > wall):
        return float(total), float(total)
    steps = manifest.get("seconds_per_step") or {}
    rounds = [s for s in steps.values() if isinstance(s, dict) and "rounds_wall_s" in s]
    if rounds and wall is not None:
        whole = wall + sum(max(0.0, s["rounds_wall_s"] / max(1, s.get("workers") or 1) - s.get("wall_s", 0.0))
                           for s in rounds)
        if whole > wall:
            return float(whole), None
    return wall, cpu


def _last_time(st: Stage, manifest: dict, times: dict) -> tuple[float | None, float | None, int | None]:
    """The wall and CPU seconds the stage took last time, and on how many cores: the larger of the pipeline's
    record and its artifact's manifest (:func:`_manifest_time`; skipped for a stage whose manifest times only
    its last step), since a resumed stage's own record covers only what it computed."""
    record = times.get(st.name) if isinstance(times.get(st.name), dict) else {}
    wall, cpu = _manifest_time(manifest) if st.timed else (None, None)
    cpus = (manifest.get("machine") or {}).get("cpus")
    if record.get("wall_s") is not None and (wall is None or record["wall_s"] >= wall):
        return record["wall_s"], record.get("cpu_s"), record.get("cpus")
    return wall, cpu, cpus


def _inspect(st: Stage, root: Path) -> tuple[str | None, str, dict]:
    """Judged on its own artifacts: why ``st`` must run (None: it need not), a note on why it may be kept,
    and the first artifact's manifest."""
    first: dict = {}
    note = "fresh"
    for rel in st.outs:
        path = root / rel
        if not path.exists():
            return f"{rel} is missing", note, first
        try:
            manifest = read_manifest(path)
        except (ValueError, OSError) as err:
            return f"found a broken manifest: {err}", note, first
        first = first or manifest
        status = artifact_status(path, manifest)
        if status.stale:
            return f"{rel}: {status.why_stale}", note, first
        if status.state == "unknown":
            note = f"whether {rel}'s code changed cannot be told (its manifest records no code hash)"
    return None, note, first


def make_plan(only: Sequence[str] | None = None, force: bool = False, root: Path = PACKAGE_DIR) -> list[PlannedStage]:
    """Which stages rerun, and why, in dependency order.

    Args:
        only: Stage names to consider (default all); the others are kept whatever their state.
        force: Rerun the considered stages even when fresh.
        root: The package folder holding ``data/`` (a copy, in tests).

    Raises:
        ValueError: naming the known stages, when ``only`` names an unknown one.
    """
    chosen = {stage(name).name for name in only} if only else {s.name for s in STAGES}
    plan: list[PlannedStage] = []
    rerun: set[str] = set()
    finished: dict[str, str] = {}
    times = read_times(root)
    for st in STAGES:
        reason, note, manifest = _inspect(st, root)
        started = manifest.get("started_utc") or ""
        if reason is None:
            ahead = [u for u in st.after if u in rerun]
            behind = [u for u in st.after if u not in rerun and started and finished.get(u, "") > started]
            if behind:
                reason = f"made before {', '.join(behind)} (which it is made from) was remade"
            elif ahead:
                reason = f"{', '.join(ahead)} (which it is made from) is remade first: kept if that comes out the same"
        if force and reason is None:
            reason = "forced"
        run = st.name in chosen and reason is not None
        plan.append(PlannedStage(st, run, reason if run else f"kept: {reason or note}",
                                 *_last_time(st, manifest, times)))
        if run:
            rerun.add(st.name)
        # the time its content last changed: a remake that came out the same does not put the others behind
        finished[st.name] = content_since(times.get(st.name), st.outs, root, manifest.get("finished_utc") or "")
    return plan


def rebuild_cost(root: Path = PACKAGE_DIR) -> dict:
    """What one ``regenerate`` from a fresh clone costs: every stage's last run, summed.

    Returns:
        ``{"wall_s", "cpu_s", "jobs_2_wall_s", "cpus", "n_stages", "untimed"}``: the wall and CPU seconds of
        all stages one at a time (CPU None when a stage's is unknown), the wall of ``--jobs 2``
        (:func:`~netgpt_lite.provenance.schedule.ready_order`), the most cores a stage ran on, and the stages
        with no recorded time (left out of the sums).

    Example:
        >>> cost = rebuild_cost()
        >>> cost["n_stages"] == len(STAGES) and cost["jobs_2_wall_s"] <= cost["wall_s"]
        True
    """
    plan = make_plan(force=True, root=root)
    timed = [p for p in plan if p.last_wall_s is not None]
    cpu = [p.last_cpu_s for p in timed]
    return {"wall_s": sum(p.last_wall_s for p in timed), "cpu_s": None if None in cpu else sum(cpu),
            "jobs_2_wall_s": ready_order(timed, 2, lambda p: p.last_wall_s)[1],
            "cpus": max((p.last_cpus or 0 for p in timed), default=0) or None, "n_stages": len(plan),
            "untimed": [p.stage.name for p in plan if p.last_wall_s is None]}


def rebuild_sentence(cost: dict) -> str:
    """The README's sentence on :func:`rebuild_cost`.

    Example:
        >>> print(rebuild_sentence({"wall_s": 7200, "cpu_s": 3600, "jobs_2_wall_s": 5400, "cpus": 2,
        ...                         "n_stages": 3, "untimed": []}))
        One `regenerate` from a fresh clone runs all 3 stages: their last runs took 2.0 h wall and 1.0 h CPU
        in sum on 2 cores, about 1.5 h with `--jobs 2`.
    """
    cpu = f" and {hours(cost['cpu_s'])} CPU" if cost["cpu_s"] is not None else ""
    cores = f" on {cost['cpus']} cores" if cost["cpus"] else ""
    text = (f"One `regenerate` from a fresh clone runs all {cost['n_stages']} stages: their last runs took "
            f"{hours(cost['wall_s'])} wall{cpu}\nin sum{cores}, about {hours(cost['jobs_2_wall_s'])} with "
            "`--jobs 2`.")
    if cost["untimed"]:
        text += f" Not counted (no recorded time yet): {', '.join(cost['untimed'])}."
    return text


def _argv(command: Sequence[str]) -> list[str]:
    head = {"netgpt-lite": [sys.executable, "-m", "netgpt_lite"], "python": [sys.executable]}
    return head.get(command[0], [command[0]]) + list(command[1:])


def _copy(src: Path, dst: Path) -> None:
    """Copy a file or a folder (replacing it whole): written beside the destination first, so the
    destination never holds a half-copied artifact."""
    tmp = dst.with_name(dst.name + ".incoming")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if tmp.is_dir():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp) if src.is_dir() else shutil.copy2(src, tmp)
    if dst.is_dir():
        shutil.rmtree(dst)
    os.replace(tmp, dst)


def _call(argv: list[str], cwd: Path, out, env: dict | None) -> tuple[int, float]:
    """Run one command to its end: ``(exit status, CPU seconds of it and the children it waited for)``
    (``os.wait4``: its own usage, not that of commands other stages run meanwhile)."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _own_cpu_seconds() -> float:
    """CPU seconds of this process's threads so far (user + system), without its children's."""
    t = os.times()
    return t.user + t.system


def run_stage(st: Stage, checkout: Path = CHECKOUT, log_dir: Path = LOG_DIR, threads: int | None = None) -> dict:
    """Run one stage's commands from ``checkout``, copy its outputs into the package, check them.

    ``threads``: the math threads its commands may use (``OMP_NUM_THREADS``), when stages run side by side;
    None leaves the environment as it is.

    Returns:
        ``{"stage", "wall_s", "cpu_s", "cpus", "finished_utc", "content", "content_since_utc", "log"}``,
        also recorded in :data:`TIMES_FILE` for the next plan; the CPU seconds are its commands' (each
        with the children it waited for) and the copying's.

    Raises:
        RuntimeError: naming the stage, the failed command and its log, when a command fails or an
            artifact is still missing or stale afterwards.
    """
    log = checkout / log_dir / f"{st.name}.log"
    for folder in {log.parent, *((checkout / src).parent for src, _ in st.copies)}:  # where the commands write
        folder.mkdir(parents=True, exist_ok=True)
    package = checkout / "netgpt_lite"
    before = digests(st.outs, package)
    try:
        since_before = content_since(read_times(package).get(st.name), st.outs, package,
                                     read_manifest(package / st.outs[0]).get("finished_utc") or "")
    except (ValueError, OSError):  # missing or broken: whatever comes out is new
        since_before = ""
    wall0, own0, cpu_commands = time.perf_counter(), _own_cpu_seconds(), 0.0
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with log.open("a") as out:
        for command in st.commands:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            code, cpu = _call(_argv(command), checkout, out, env)
            cpu_commands += cpu
            if code != 0:
                raise RuntimeError(f"stage {st.name}: `{' '.join(command)}` exited with status {code}; its "
                                   f"output is in {log}. Fix the cause and run the same command again: "
                                   f"finished stages are kept")
    for src, dst in st.copies:
        if not (checkout / src).exists():
            raise RuntimeError(f"stage {st.name}: its commands succeeded but {src} does not exist (see {log})")
        _copy(checkout / src, package / dst)
    reason, _, _ = _inspect(st, package)
    if reason is not None:
        raise RuntimeError(f"stage {st.name}: after its commands {reason} (see {log})")
    now = time.strftime(TIME_FORMAT, time.gmtime())
    # this stage's CPU: its commands' own (other stages' commands may finish meanwhile) and the copying here
    timing = {"wall_s": round(time.perf_counter() - wall0, 1),
              "cpu_s": round(cpu_commands + _own_cpu_seconds() - own0, 1),
              "cpus": machine()["cpus"], "finished_utc": now,
              **content_record(before, digests(st.outs, package), since_before, now)}
    with _TIMES_LOCK:  # stages running side by side finish in any order: one read-modify-write at a time
        atomic_write_json(package / TIMES_FILE, {**read_times(package), st.name: timing})
    return {"stage": st.name, **timing, "log": str(log)}


def regenerate(only: Sequence[str] | None = None, force: bool = False, dry_run: bool = False,
               echo=print, jobs: int = 1, run: Callable[..., dict] = run_stage) -> list[dict]:
    """Print the plan, then run every stage it reruns; returns each run stage's timing.

    With ``jobs`` above 1, up to that many stages run side by side, a stage starting once the stages it is
    made from (``after``) have finished, each with ``cores // jobs`` math threads unless ``OMP_NUM_THREADS``
    is set: most stages keep one core busy (E5 runs one model at a time), so two at once on two cores take
    about the time of the longest chain.  A failed stage does not stop the others; the stages made from it
    are not started, and one error names every failure at the end (finished stages are kept).

    Args:
        only: Stage names (default: all).
        force: Rerun even fresh stages.
        dry_run: Print the plan only.
        echo: Where the plan and progress lines go.
        jobs: Stages run at once, >= 1.
        run: Runs one stage (:func:`run_stage`; a stand-in in tests).

    Raises:
        ValueError: when ``jobs`` < 1.
        RuntimeError: when the package is not in a source checkout (the commands need ``scripts/``
            and ``tests/data``), or when stages fail (see :func:`run_stage`).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1 (stages run at once); got {jobs}")
    plan = make_plan(only, force)
    todo = [p for p in plan if p.run]
    known = [p.last_wall_s for p in todo if p.last_wall_s is not None]
    echo(f"{len(todo)} of {len(plan)} stages to run; their last runs took {hours(sum(known))} wall"
         + (f" ({len(todo) - len(known)} with no recorded time)" if len(known) < len(todo) else ""))
    if jobs > 1 and todo:
        _, wall = ready_order(todo, jobs, lambda p: p.last_wall_s or 0.0)
        echo(f"{jobs} at a time: about {hours(wall)} wall, if each takes what it took last time")
    for p in plan:
        echo(p.line())
    if dry_run or not todo:
        return []
    if not (CHECKOUT / "scripts").is_dir() or not (CHECKOUT / "tests" / "data").is_dir():
        raise RuntimeError(f"regenerate runs from a source checkout (it needs scripts/ and tests/data beside "
                           f"{PACKAGE_DIR}); clone the repository and install it with `pip install -e .`")
    threads = None if jobs == 1 or os.environ.get("OMP_NUM_THREADS") else max(1, (os.cpu_count() or 1) // jobs)

    def run_one(st: Stage) -> dict:
        now = next(p for p in make_plan([st.name], force) if p.stage.name == st.name)  # its inputs are final now
        if not now.run:  # everything it is made from came out the same
            return {"stage": st.name, "kept": now.reason}
        return run(st, threads=threads) if threads else run(st)

    return run_all(todo, jobs, echo, run_one)
