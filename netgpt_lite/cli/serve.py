"""``netgpt-lite serve``: the router as an OpenAI-compatible HTTP service (:mod:`netgpt_lite.service`).

The check phase validates every flag before anything loads: the port (free to listen on), the upstream (``--cloud-base-url``,
``--cloud-model``, ``--cloud-key-env``; a warning when the key variable is unset), a replayed trace
(``--network-trace`` CSV or ``--mahimahi`` file, parsed), the policy file (parsed) and the log folder
(writable, and a traffic log if it already holds one); then the run phase loads the edge and serves
until Ctrl-C.

Example:
    $ netgpt-lite serve --port 8000 --cloud-base-url http://127.0.0.1:8001/v1 --cloud-model qwen2.5-7b
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from netgpt_lite.cli.arguments import (
    COUNT,
    POSITIVE,
    POSITIVE_INT,
    UsageError,
    add_cloud_flags,
    cloud_config_from_args,
    existing_file,
    flag_errors,
    int_range,
    one_of,
    output_dir,
)
from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.synergy.loop import EDGES

_SERVE_FLAGS = {"port": "--port", "edge": "--edge", "pricing": "--pricing", "trace_speed": "--trace-speed",
                "upstream_timeout_s": "--upstream-timeout-s", "upstream_retries": "--upstream-retries",
                "max_batch": "--max-batch", "edge_threads": "--edge-threads", "max_queue": "--max-queue", "log_shard_size": "--log-shard-size",
                "mahimahi": "--mahimahi", "cloud_base_url": "--cloud-base-url", "cloud_model": "--cloud-model",
                "cloud_key_env": "--cloud-key-env", "base_url": "--cloud-base-url", "model": "--cloud-model",
                "api_key_env": "--cloud-key-env", "timeout_s": "--upstream-timeout-s"}


def add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the router as an OpenAI-compatible HTTP service (edge first, cloud fallback)",
                       description="Serve POST /v1/chat/completions, GET /v1/models, /health and /metrics: the edge "
                                   "answers and scores each request, FuncDyn's threshold follows the measured (or "
                                   "replayed) network and the price, and requests below it go to the upstream cloud.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_range(0, 65535), default=8000, help="TCP port, in [0, 65535]")
    add_cloud_flags(p, required=True, concurrency=False)  # concurrency here: one upstream call per request
    p.add_argument("--edge", type=one_of("edge", list(EDGES)), default="tiny",
                   help="edge model: tiny (fast) or smollm2 (the real edge, ~1 s a request on a CPU)")
    p.add_argument("--policy-file", type=existing_file, default=None,
                   help="FuncDyn JSON (default: the shipped one of --edge)")
    p.add_argument("--pricing", type=one_of("pricing", list(PRICING_SCHEDULES)), default="flat",
                   help="price schedule: flat, peak_offpeak or surge")
    replay = p.add_mutually_exclusive_group()
    replay.add_argument("--network-trace", type=existing_file, default=None, metavar="FILE",
                        help="replay a CSV trace (t, bandwidth_mbps, rtt_ms) instead of measuring the network")
    replay.add_argument("--mahimahi", type=existing_file, default=None, metavar="FILE",
                        help="replay a Mahimahi link trace instead of measuring the network")
    p.add_argument("--trace-speed", type=POSITIVE, default=1.0, help="trace seconds per wall second of a replay")
    p.add_argument("--upstream-timeout-s", type=POSITIVE, default=10.0, help="timeout of one upstream attempt, s")
    p.add_argument("--upstream-retries", type=COUNT, default=1, help="retries of a failed upstream call")
    p.add_argument("--edge-threads", type=POSITIVE_INT, default=1,
                   help="torch threads of the edge (1: best for the tiny edge and on a busy machine)")
    p.add_argument("--max-batch", type=POSITIVE_INT, default=16, help="most requests the edge generates together")
    p.add_argument("--max-queue", type=POSITIVE_INT, default=256, help="most waiting requests; more get 503")
    p.add_argument("--log-dir", type=output_dir, default="serve_log",
                   help="traffic log folder: every cloud answer, as synergy-loop training data")
    p.add_argument("--log-shard-size", type=POSITIVE_INT, default=256, help="records per log shard")
    p.set_defaults(check=_check_serve, func=_run_serve)


def _check_trace(args: argparse.Namespace) -> None:
    from netgpt_lite.network import read_mahimahi, read_trace_csv

    for flag, path, read in (("--network-trace", args.network_trace, read_trace_csv),
                             ("--mahimahi", args.mahimahi, read_mahimahi)):
        if path is None:
            continue
        try:
            read(path)
        except (OSError, ValueError) as err:
            raise UsageError(f"argument {flag}: the trace does not parse: {err}") from None


def _check_log_dir(path: Path) -> None:
    state = path / "state.json"
    if not state.exists():
        return
    try:
        kind = json.loads(state.read_text()).get("kind")
    except (OSError, ValueError, AttributeError) as err:
        raise UsageError(f"argument --log-dir: {str(state)!r} is not readable ({err}); move it away or choose "
                         "another --log-dir") from None
    from netgpt_lite.service.traffic_log import LOG_KIND

    if kind != LOG_KIND:
        raise UsageError(f"argument --log-dir: {str(path)!r} holds something else than a traffic log "
                         f"({state.name} kind={kind!r}); choose another --log-dir")


def _check_address(host: str, port: int) -> None:
    """The service can listen on ``host:port`` (checked by binding it for a moment)."""
    import socket

    if port == 0:
        return
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        raise UsageError(f"argument --port: cannot listen on {host}:{port} ({err.strerror}); choose another "
                         "--port (or --host)") from None


def _check_serve(args: argparse.Namespace) -> dict:
    from netgpt_lite.service.app import ServeConfig

    cloud_config_from_args(args)
    _check_trace(args)
    with flag_errors(_SERVE_FLAGS):
        config = ServeConfig(cloud_base_url=args.cloud_base_url, cloud_model=args.cloud_model,
                             cloud_key_env=args.cloud_key_env, host=args.host, port=args.port, edge=args.edge,
                             policy_file=args.policy_file, pricing=args.pricing, trace=args.network_trace,
                             mahimahi=args.mahimahi, trace_speed=args.trace_speed,
                             upstream_timeout_s=args.upstream_timeout_s, upstream_retries=args.upstream_retries,
                             edge_threads=args.edge_threads, max_batch=args.max_batch, max_queue=args.max_queue,
                             log_dir=args.log_dir,
                             log_shard_size=args.log_shard_size)
        config.cloud_config()
    from netgpt_lite.service.policy_file import load_serve_policy

    try:
        load_serve_policy(config.policy_file or config.edge)
    except (OSError, ValueError) as err:
        raise UsageError(f"argument --policy-file: {err}") from None
    _check_log_dir(Path(args.log_dir))
    _check_address(args.host, args.port)
    if not os.environ.get(args.cloud_key_env):
        print(f"netgpt-lite serve: warning: {args.cloud_key_env} is not set; upstream requests carry no API key",
              file=sys.stderr)
    return {"config": config}


def _run_serve(args: argparse.Namespace, plan: dict) -> int:
    from netgpt_lite.service.app import serve_forever

    config = plan["config"]
    print(f"netgpt-lite serve: http://{config.host}:{config.port}/v1 (edge {config.edge}, upstream "
          f"{config.cloud_base_url}, network {'replayed' if config.trace or config.mahimahi else 'measured'})",
          file=sys.stderr, flush=True)
    serve_forever(config)
    return 0
