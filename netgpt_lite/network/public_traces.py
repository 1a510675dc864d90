"""Fetch the public Mahimahi cellular traces named in ``data/traces/mahimahi_public.json``, checked by sha256.

The traces recorded on real LTE networks (Winstein et al., NSDI 2013) are GPL-licensed files of the Mahimahi
repository, so the package ships only their list: a URL pinned to one commit, the size and the sha256 of each.
Where a machine can reach GitHub, :func:`fetch_public_traces` downloads them into a folder and keeps a file only
when its checksum matches; offline, it fails with one line that says so, and the book's default stays the
self-made example (:data:`~netgpt_lite.network.mahimahi.EXAMPLE_MAHIMAHI`).  A fetched trace is read like any
other: ``netgpt-lite frontier --mahimahi DIR/ATT-LTE-driving.down --base-rtt-ms 40``.

    python -m netgpt_lite.network.public_traces --out runs/traces          # every listed trace
    python -m netgpt_lite.network.public_traces --out runs/traces --name TMobile-LTE-short.down

Example:
    >>> [t["name"] for t in public_trace_list()][:2]
    ['ATT-LTE-driving-2016.down', 'ATT-LTE-driving.down']
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path

LIST_FILE = Path(__file__).resolve().parents[1] / "data" / "traces" / "mahimahi_public.json"
MAX_ATTEMPTS = 3  # per file: a flaky network gets two retries, never more
TIMEOUT_S = 60.0


def public_trace_list(path: str | Path | None = None) -> list[dict]:
    """The listed traces (default list: :data:`LIST_FILE`): ``name``, ``url``, ``bytes``, ``sha256`` each."""
    path = LIST_FILE if path is None else path
    traces = json.loads(Path(path).read_text())["traces"]
    for t in traces:
        if not {"name", "url", "bytes", "sha256"} <= set(t) or "/" in t["name"]:
            raise ValueError(f"{path}: a trace entry needs name (a file name), url, bytes and sha256; got {t}")
    return traces


def _download(url: str, timeout_s: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - https URLs from the list
        return response.read()


def fetch_public_traces(out_dir: str | Path, names=None, *, download=_download, sleep=time.sleep,
                        timeout_s: float = TIMEOUT_S) -> list[Path]:
    """Download the listed traces (or those ``names``) into ``out_dir``; a file already there with the right
    checksum is kept without downloading.

    Args:
        out_dir: Folder for the traces (created).
        names: Trace names from the list; None: all of them.
        download: ``(url, timeout_s) -> bytes`` (tests pass a fake; the default uses urllib).
        sleep: Waits between attempts (tests pass a no-op).
        timeout_s: Socket timeout of one attempt.

    Returns:
        The paths of the traces, in list order.

    Raises:
        ValueError: naming an unknown trace, before anything is downloaded.
        RuntimeError: naming the trace and the reason, when it cannot be fetched in :data:`MAX_ATTEMPTS`
            attempts or its checksum differs (nothing is written for it then).
    """
    listed = {t["name"]: t for t in public_trace_list()}
    wanted = list(listed) if names is None else list(names)
    unknown = [n for n in wanted if n not in listed]
    if unknown:
        raise ValueError(f"unknown trace(s) {unknown}; the list has {', '.join(listed)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in wanted:
        entry, path = listed[name], out / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]:
            paths.append(path)
            continue
        data, error = None, None
        for attempt in range(MAX_ATTEMPTS):
            try:
                data = download(entry["url"], timeout_s)
                break
            except OSError as err:  # URLError, timeouts, resets: worth another try
                error = err
                if attempt + 1 < MAX_ATTEMPTS:
                    sleep(2.0 ** attempt)
        if data is None:
            raise RuntimeError(f"{name}: could not be fetched from {entry['url']} in {MAX_ATTEMPTS} attempts "
                               f"({error}); is the network reachable? The self-made example needs none")
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise RuntimeError(f"{name}: sha256 {digest} differs from the listed {entry['sha256']} "
                               f"({len(data)} bytes, listed {entry['bytes']}); nothing was written")
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # never a half-written trace under its own name
        paths.append(path)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="fetch the public Mahimahi LTE traces (checked by sha256)")
    parser.add_argument("--out", required=True, help="folder for the traces")
    parser.add_argument("--name", nargs="+", default=None, help="trace names (default: every listed trace)")
    args = parser.parse_args(argv)
    try:
        for path in fetch_public_traces(args.out, args.name):
            print(path)
    except (ValueError, RuntimeError) as err:
        print(f"public_traces: error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
