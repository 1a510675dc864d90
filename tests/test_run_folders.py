"""A synergy run folder is resumed correctly or refused in one line naming the file and the fix.

Each test damages a finished run the way the issue did (state.json deleted, ``log_shards`` emptied, a shard
or checkpoint truncated or gone, the model's ``config.json`` changed, the round out of range, ``--out`` at a
folder that already has a ``log/``, ``--resume`` on a missing folder) and checks that the library neither
deletes a file nor starts any work, and that every logged answer is still on disk.  Fake stages (a counter
"edge" with a ``config.json``) keep each test well under a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from netgpt_lite.runtime import RunFolderError
from netgpt_lite.synergy.loop import SynergyConfig, SynergyStages, load_log, read_state, run_synergy

CFG = SynergyConfig(rounds=3, requests_per_round=8, eval_requests=8, seed=1, warmup_tasks=16)
PER_ROUND = 5  # answers the fake cloud gives per round


class Fake:
    """Fake stages that count the work they do (so a test can say "refused before any work")."""

    def __init__(self, fail_evaluate_at: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_evaluate_at = fail_evaluate_at

    def stages(self) -> SynergyStages:
        return SynergyStages(
            init=self.init,
            route=self.route,
            improve=self.improve,
            evaluate=self.evaluate,
            save=self.save,
            load=self.load,
            mix=lambda edge, routing: edge,
        )

    def init(self, cfg):
        self.calls.append("init")
        return {"n": 0, "round": 0}

    def route(self, system, cfg, r):
        self.calls.append(f"route:{r}")
        return [{"request_id": f"r{r}-{i}", "round": r, "x": float(i)} for i in range(PER_ROUND)]

    def improve(self, system, log, cfg, r):
        self.calls.append(f"improve:{r}")
        return {"n": len(log), "round": r}

    def evaluate(self, system, cfg):
        if system["round"] == self.fail_evaluate_at:
            # like a SIGKILL after the checkpoint: the round is not committed
            raise KeyboardInterrupt("killed after the checkpoint")
        return {"n": system["n"]}

    def save(self, system, folder: Path) -> None:
        (folder / "edge").mkdir()
        (folder / "edge" / "config.json").write_text(json.dumps({"hidden_size": 8}))
        (folder / "system.json").write_text(json.dumps(system))

    def load(self, folder: Path, cfg):
        if json.loads((folder / "edge" / "config.json").read_text()) != {"hidden_size": 8}:
            raise RuntimeError("size mismatch for model.embed: [16] vs [8]")  # what transformers says
        return json.loads((folder / "system.json").read_text())


def _finished(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    run_synergy(CFG, out, stages=Fake().stages())
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(out: Path, *, resume: bool, match: str, rounds: int = 4) -> str:
    """Run and expect a one-line refusal matching ``match``, with no work done and no file changed."""
    before = _files(out) if out.exists() else None
    fake = Fake()
    with pytest.raises(RunFolderError, match=match) as info:
        run_synergy(dataclasses.replace(CFG, rounds=rounds), out, stages=fake.stages(), resume=resume)
    message = str(info.value)
    assert "\n" not in message, "the error must be one line"
    assert fake.calls == [], f"work started before the folder was checked: {fake.calls}"
    if before is None:
        assert not out.exists(), "a refused run created its folder"
    else:
        assert _files(out) == before, "a refused run changed or deleted files"
    return message


# --- the defects of the issue, one test each ------------------------------------------------------------
def test_deleted_state_json_is_refused_not_wiped(tmp_path):
    out = _finished(tmp_path)
    (out / "state.json").unlink()
    message = _refused(out, resume=True, match="state.json")
    assert "--out" in message and "restore" in message
    _refused(out, resume=False, match="state.json")  # nor does a new run start over its files


def test_empty_log_shards_is_refused_and_the_logged_answers_kept(tmp_path):
    out = _finished(tmp_path)
    state = read_state(out)
    (out / "state.json").write_text(json.dumps({**state, "log_shards": []}))
    message = _refused(out, resume=True, match="log_shards")
    assert "state.json" in message and "--out" in message
    assert sum(1 for _ in (out / "log").iterdir()) == CFG.rounds  # every shard is still there


@pytest.mark.parametrize("what", ["file", "folder"])
def test_new_run_in_a_folder_with_a_log_subfolder_deletes_nothing(tmp_path, what):
    out = tmp_path / "project"
    (out / "log").mkdir(parents=True)
    if what == "file":
        (out / "log" / "server.log").write_text("someone else's log\n")
    else:
        (out / "log" / "2024").mkdir()
        (out / "log" / "2024" / "app.log").write_text("someone else's log\n")
    message = _refused(out, resume=False, match="log")
    assert "new --out" in message


def test_resume_on_a_missing_folder_is_a_usage_error(tmp_path):
    message = _refused(tmp_path / "nowhere", resume=True, match="nothing to resume")
    assert "--resume" in message


def _truncate_shard(out: Path) -> str:
    arrow = next((out / "log" / "round_002").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:100])
    return "log/round_002"


def _remove_shard(out: Path) -> str:
    shutil.rmtree(out / "log" / "round_002")
    return "log/round_002"


def _truncate_checkpoint(out: Path) -> str:
    path = out / "checkpoints" / "round_003" / "system.json"
    path.write_text(path.read_text()[:5])
    return "checkpoints/round_003"


def _remove_checkpoint(out: Path) -> str:
    shutil.rmtree(out / "checkpoints" / "round_003")
    return "checkpoints/round_003"


def _change_config(out: Path) -> str:
    (out / "checkpoints" / "round_001" / "edge" / "config.json").write_text(json.dumps({"hidden_size": 16}))
    return "checkpoints/round_001"


def _round_out_of_range(out: Path) -> str:
    state = read_state(out)
    (out / "state.json").write_text(json.dumps({**state, "last_completed_round": 9}))
    return "last_completed_round"


@pytest.mark.parametrize(
    "damage",
    [
        _truncate_shard,
        _remove_shard,
        _truncate_checkpoint,
        _remove_checkpoint,
        _change_config,
        _round_out_of_range,
    ],
)
def test_a_damaged_run_is_refused_before_any_work_naming_the_file_and_the_fix(tmp_path, damage):
    out = _finished(tmp_path)
    named = damage(out)
    message = _refused(out, resume=True, match=named)
    assert "restore" in message and "new --out" in message


def test_resume_with_fewer_rounds_than_committed_is_refused(tmp_path):
    out = _finished(tmp_path)
    message = _refused(out, resume=True, match="rounds", rounds=2)
    assert "--rounds" in message or "rounds >= 3" in message


# --- kills: the uncommitted round is reused, never deleted, and no answer is lost ----------------------------
@pytest.mark.parametrize("killed_round", [0, 2])
def test_a_round_killed_after_its_checkpoint_is_resumed_from_its_files(tmp_path, killed_round):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_synergy(CFG, out, stages=Fake(fail_evaluate_at=killed_round).stages())
    leftovers = _files(out / "log") | {f"ckpt/{k}": v for k, v in _files(out / "checkpoints").items()}
    fake = Fake()
    result = run_synergy(CFG, out, stages=fake.stages(), resume=True)
    redo = "init" if killed_round == 0 else f"route:{killed_round}"
    assert redo not in fake.calls, "the killed round was redone instead of reusing its files"
    now = _files(out / "log") | {f"ckpt/{k}": v for k, v in _files(out / "checkpoints").items()}
    assert all(now.get(k) == v for k, v in leftovers.items()), (
        "a file of the killed round was deleted or changed"
    )
    ids = load_log(out)["request_id"]
    assert len(ids) == len(set(ids)) == result.n_logged == PER_ROUND * CFG.rounds
    assert [m["round"] for m in result.rounds] == list(range(CFG.rounds + 1))
    assert result.rounds == run_synergy(CFG, tmp_path / "straight", stages=Fake().stages()).rounds


def _answers_on_disk(out: Path) -> int:
    """Logged answers in every intact shard folder under ``out/log`` (whatever state.json says)."""
    from datasets import load_from_disk

    n = 0
    for shard in sorted((out / "log").glob("round_*")):
        with contextlib.suppress(Exception):  # a damaged shard counts 0: the assertion below then fails
            n += len(load_from_disk(str(shard)))
    return n


def _delete_state(out: Path) -> str:
    (out / "state.json").unlink()
    return "state.json"


def _empty_log_shards(out: Path) -> str:
    (out / "state.json").write_text(json.dumps({**read_state(out), "log_shards": []}))
    return "log_shards"


def test_every_corruption_and_kill_loses_no_logged_answer(tmp_path):
    """The count the issue asks for: answers on disk before and after each refusal or resume."""
    expected = PER_ROUND * CFG.rounds
    for i, damage in enumerate(
        [
            _delete_state,
            _empty_log_shards,
            _truncate_checkpoint,
            _remove_checkpoint,
            _change_config,
            _round_out_of_range,
        ]
    ):
        out = tmp_path / f"run{i}"
        run_synergy(CFG, out, stages=Fake().stages())
        damage(out)
        for resume in (True, False):
            with pytest.raises(RunFolderError):
                run_synergy(CFG, out, stages=Fake().stages(), resume=resume)
        assert _answers_on_disk(out) == expected, damage.__name__
    for r in (0, 1, 3):  # a kill in each kind of round: every answer logged once after the resume
        out = tmp_path / f"killed{r}"
        with pytest.raises(KeyboardInterrupt):
            run_synergy(CFG, out, stages=Fake(fail_evaluate_at=r).stages())
        before = _answers_on_disk(out)
        assert before == PER_ROUND * r  # the killed round's shard is on disk, uncommitted
        run_synergy(CFG, out, stages=Fake().stages(), resume=True)
        assert _answers_on_disk(out) == len(load_log(out)) == expected


def test_cli_maps_a_refused_folder_to_exit_2_with_one_line(tmp_path, capsys):
    from netgpt_lite.cli.main import main

    code = main(["synergy", "--fast", "--rounds", "1", "--out", str(tmp_path / "nowhere"), "--resume"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "nowhere" in err and "--resume" in err and "internal error" not in err
