"""``netgpt-lite serve``: the router as an OpenAI-compatible HTTP service (:mod:`netgpt_lite.service`).

The check phase validates every flag before anything loads: the port (free to listen on), the upstream (``--cloud-base-url``,
``--cloud-model``, ``--cloud-key-env``; a warning when the key variable is unset), a replayed trace
(``--network-trace`` CSV or ``--mahimahi`` file, parsed), the policy file (parsed) and the log folder
(writable, and a traffic log if it already holds one); then the run phase loads the edge and serves
until Ctrl-C.

Exposure: ``--api-key-env NAME`` makes clients send the key held by ``NAME`` (``Authorization: Bearer``;
the variable must be set); a ``--host`` beyond loopback without it is a usage error unless
``--allow-unauthenticated`` (then a warning).  Request limits (``--max-body-bytes``, ``--max-tools``,
``--max-tool-bytes``, ``--max-tool-name-chars``, ``--max-messages``, ``--max-message-chars``,
``--max-prompt-tokens``; :mod:`netgpt_lite.service.limits`) are checked against their ranges.

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
    POSITIVE,
    UsageError,
    add_cloud_flags,
    cloud_config_from_args,
    existing_file,
    flag_errors,
    int_range,
    one_of,
    output_dir,
    refuse_inapplicable,
)
from netgpt_lite.network.pricing import PRICING_SCHEDULES
from netgpt_lite.service.limits import LIMIT_FLAGS, LIMIT_RANGES, RequestLimits
from netgpt_lite.synergy.loop import EDGES

_SERVE_FLAGS = {"port": "--port", "edge": "--edge", "edge_decoding": "--edge-decoding", "pricing": "--pricing", "trace_speed": "--trace-speed",
                "upstream_timeout_s": "--upstream-timeout-s", "upstream_retries": "--upstream-retries",
                "max_batch": "--max-batch", "edge_threads": "--edge-threads", "max_queue": "--max-queue", "log_shard_size": "--log-shard-size",
                "mahimahi": "--mahimahi", "cloud_base_url": "--cloud-base-url", "cloud_model": "--cloud-model",
                "cloud_key_env": "--cloud-key-env", "base_url": "--cloud-base-url", "model": "--cloud-model",
                "api_key_env": "--cloud-key-env", "timeout_s": "--upstream-timeout-s", "host": "--host",
                "client_key_env": "--api-key-env", **LIMIT_FLAGS}
_LIMIT_HELP = {"max_body_bytes": "largest request body, bytes (413 beyond; not read past it)",
               "max_tools": "most tools in one request", "max_tool_bytes": "largest tool, bytes of JSON",
               "max_tool_name_chars": "longest tool name (OpenAI allows 64)", "max_messages": "most messages",
               "max_message_chars": "longest message, characters of JSON",
               "max_prompt_tokens": "longest edge prompt (messages and tools rendered), tokens"}


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
    p.add_argument("--edge-decoding", choices=["retry", "greedy"], default="retry",
                   help="retry (default): a schema-invalid edge call is generated again under the schema mask, so "
                        "none reaches a client when the cloud cannot answer; greedy: the first call as it is")
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
    p.add_argument("--upstream-retries", type=int_range(0, 10, "each retry waits for the upstream again"), default=1,
                   help="retries of a failed upstream call, in [0, 10]")
    p.add_argument("--edge-threads", type=int_range(1, 256, "more threads than cores only slows the edge"), default=1,
                   help="torch threads of the edge, in [1, 256] (1: best for the tiny edge and on a busy machine)")
    p.add_argument("--max-batch", type=int_range(1, 256, "a larger batch holds its KV cache in memory at once"),
                   default=16, help="most requests the edge generates together, in [1, 256]")
    p.add_argument("--max-queue", type=int_range(1, 100_000, "each waiting request holds its body in memory"),
                   default=256, help="most waiting requests, in [1, 100000]; more get 503")
    p.add_argument("--log-dir", type=output_dir, default="serve_log",
                   help="traffic log folder: every cloud answer, as synergy-loop training data")
    p.add_argument("--log-shard-size", type=int_range(1, 100_000, "a shard is written at once"), default=256,
                   help="records per log shard, in [1, 100000]")
    p.add_argument("--api-key-env", default=None, metavar="NAME",
                   help="require clients to send 'Authorization: Bearer <key>', the key read from environment "
                        "variable NAME (default: no key; then only a loopback --host is allowed)")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="listen beyond loopback (e.g. --host 0.0.0.0) without --api-key-env anyway")
    defaults = RequestLimits()
    for name, (low, high) in LIMIT_RANGES.items():
        p.add_argument(LIMIT_FLAGS[name], type=int_range(low, high), default=getattr(defaults, name),
                       help=f"{_LIMIT_HELP[name]}, in [{low}, {high}] (default {getattr(defaults, name)})")
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


def _check_exposure(config) -> None:
    """The client key's variable holds a usable key; a host beyond loopback without one is warned about."""
    from netgpt_lite.service.auth import BearerKey, is_loopback

    if config.client_key_env:
        try:
            BearerKey.from_env(config.client_key_env)  # checked now, read again (once) when serving
        except ValueError as err:
            raise UsageError(f"argument --api-key-env: {err}") from None
    elif not is_loopback(config.host):  # ServeConfig refused this unless --allow-unauthenticated
        print(f"netgpt-lite serve: warning: listening on {config.host} without a client key "
              "(--allow-unauthenticated): anyone who can reach this port can use the service and its "
              "upstream key; set --api-key-env NAME to require one", file=sys.stderr)


def _check_serve(args: argparse.Namespace) -> dict:
    from netgpt_lite.service.app import ServeConfig
    from netgpt_lite.service.auth import is_loopback

    refuse_inapplicable(args, {
        "--trace-speed": (lambda a: a.network_trace or a.mahimahi, "needs --network-trace or --mahimahi (it sets "
                          "the speed of a replayed trace)"),
        "--allow-unauthenticated": (lambda a: not is_loopback(a.host), "needs a --host beyond loopback (e.g. "
                                    "0.0.0.0); on 127.0.0.1 no other machine can connect"),
        "--api-key-env": (lambda a: not a.allow_unauthenticated, "contradicts --allow-unauthenticated; give one"),
    })  # fmt: skip
    cloud_config_from_args(args)
    _check_trace(args)
    with flag_errors(_SERVE_FLAGS):
        config = ServeConfig(cloud_base_url=args.cloud_base_url, cloud_model=args.cloud_model,
                             cloud_key_env=args.cloud_key_env, host=args.host, port=args.port, edge=args.edge,
                             edge_decoding=args.edge_decoding,
                             policy_file=args.policy_file, pricing=args.pricing, trace=args.network_trace,
                             mahimahi=args.mahimahi, trace_speed=args.trace_speed,
                             upstream_timeout_s=args.upstream_timeout_s, upstream_retries=args.upstream_retries,
                             edge_threads=args.edge_threads, max_batch=args.max_batch, max_queue=args.max_queue,
                             log_dir=args.log_dir, log_shard_size=args.log_shard_size,
                             client_key_env=args.api_key_env, allow_unauthenticated=args.allow_unauthenticated,
                             limits=RequestLimits(**{name: getattr(args, name) for name in LIMIT_RANGES}))
        config.cloud_config()
    _check_exposure(config)
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
    from netgpt_lite.agents.redaction import redact_url
    from netgpt_lite.service.app import serve_forever

    config = plan["config"]
    network = "replayed" if config.trace or config.mahimahi else "measured"
    print(f"netgpt-lite serve: http://{config.host}:{config.port}/v1 (edge {config.edge}, upstream "
          f"{redact_url(config.cloud_base_url)}, network {network})", file=sys.stderr, flush=True)
    serve_forever(config)
    return 0
