"""Phrasing data for the task generator: argument vocabularies, how values are said, and sentence templates.

Kept apart from :mod:`netgpt_lite.tasks.generate` (the generator logic) so each file reads in one sitting.
Everything here is plain data plus tiny "sayer" functions ``(value, level, rng) -> phrase``;
``level`` is 0 (easy: canonical units and words), 1 (medium: paraphrases) or 2 (hard: unit
conversions such as "half a gigabit" -> 500, relative times, enums said in words such as
"top priority" -> "high").

Templates: each tool has five single-step sentence templates; the first three are *train*
templates (used by the train and validation splits), the last two are *test* templates, never
seen in training. Each workflow has four goal templates (three train, one test). A template's
``{slot}`` names an argument; optional-argument slots render as ``""`` when the argument is absent.

Example:
    >>> import numpy as np
    >>> say_percent = KINDS["percent"][1]
    >>> [say_percent(50, level, np.random.default_rng(0)) for level in (0, 1, 2)]
    ['50%', '50 percent', 'half']
"""

from __future__ import annotations

import numpy as np

SITES = ("harbor", "airport", "stadium", "campus", "downtown", "riverside", "hillside", "station", "market",
         "museum", "hospital", "factory", "port", "mall", "park", "bridge", "tower", "depot", "library", "arena")  # fmt: skip
MODELS = ("traffic-predictor", "anomaly-detector", "beam-selector", "energy-saver")
N_TRAIN_TEMPLATES, N_TRAIN_GOALS = 3, 3  # per tool / per workflow; the rest are test templates
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 10: "ten", 12: "twelve",
                20: "twenty", 30: "thirty", 50: "fifty", 100: "a hundred"}  # fmt: skip


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _words(table: dict) -> callable:
    """A sayer from ``value -> (easy phrases, medium phrases, hard phrases)``."""
    return lambda v, level, rng: _choice(rng, table[v][level])


def _number(easy: str, medium: str, hard: dict) -> callable:
    """A sayer for numbers: ``easy``/``medium`` are formats of the value, ``hard`` maps value -> phrases."""
    fmts = (easy, medium)
    return lambda v, level, rng: fmts[level].format(v) if level < 2 else _choice(rng, hard[v])


def _say_time(hhmm: str, level: int, rng: np.random.Generator) -> tuple[str, str]:
    """Say a start time. Returns ``(phrase, prefix)``; hard tasks state the current time in the prefix."""
    hour, minute = map(int, hhmm.split(":"))
    if level == 0:
        return f"at {hhmm}", ""
    if level == 1:
        suffix = "am" if hour < 12 else "pm"
        return (f"at {(hour - 1) % 12 + 1}{'' if minute == 0 else f':{minute:02d}'} {suffix}"), ""
    offset_min = _choice(rng, (30, 60, 90, 120, 180, 240))
    now = hour * 60 + minute - offset_min
    phrase = {30: "in half an hour", 60: "in an hour", 90: "in 90 minutes", 120: "in 2 hours",
              180: "in three hours", 240: "in 4 hours"}[offset_min]  # fmt: skip
    return phrase, f"It is {now // 60:02d}:{now % 60:02d}. "


def _sample_time(rng: np.random.Generator) -> str:
    return (
        f"{int(rng.integers(5, 23)):02d}:{_choice(rng, (0, 15, 30, 45)):02d}"  # >= 05:00 so "now" stays today
    )


_LEVEL_WORDS = {  # priority / urgency
    "high": (["high"], ["high", "elevated"], ["top", "critical", "highest"]),
    "medium": (["medium"], ["medium", "normal"], ["regular", "standard", "middle"]),
    "low": (["low"], ["low", "background"], ["lowest", "best-effort", "no-rush"]),
}

# kind -> (sampler(rng) -> value, sayer(value, level, rng) -> phrase)
KINDS: dict[str, tuple[callable, callable]] = {
    "cell": (lambda r: f"cell-{int(r.integers(1, 49))}",
             lambda v, level, r: v if level < 2 else _choice(r, (v, v.replace("-", " "), v.replace("-", " number ")))),
    "site": (lambda r: _choice(r, SITES), lambda v, level, r: v),
    "slice": (lambda r: f"slice-{int(r.integers(1, 10))}", lambda v, level, r: v),
    "model": (lambda r: _choice(r, MODELS),
              lambda v, level, r: (v, f"{v} model", v.replace("-", " "))[level]),
    "kpi_metric": (lambda r: _choice(r, ("throughput", "latency", "packet_loss", "prb_usage")), _words({
        "throughput": (["throughput"], ["data rate", "throughput"], ["how much data it carries", "its data rate"]),
        "latency": (["latency"], ["delay", "latency"], ["how slow it responds", "its round-trip delay"]),
        "packet_loss": (["packet loss"], ["lost packets", "packet drops"], ["the share of dropped packets"]),
        "prb_usage": (["PRB usage"], ["resource block usage"], ["how loaded its radio resources are"]),
    })),
    "window": (lambda r: _choice(r, (5, 30, 60, 120)), _number("{} minutes", "{} min", {
        5: ["five minutes"], 30: ["half hour"], 60: ["hour"], 120: ["two hours", "2 hours"]})),
    "severity": (lambda r: _choice(r, ("minor", "critical")), _words({
        "minor": (["minor"], ["minor or worse"], ["even minor", "all, minor included"]),
        "critical": (["critical"], ["critical only"], ["only the most severe", "only show-stopper"])})),
    "hours": (lambda r: _choice(r, (1, 6, 12, 48, 72)), _number("{} hours", "{} h", {
        1: ["hour"], 6: ["six hours"], 12: ["half day"], 48: ["two days"], 72: ["three days"]})),
    "bandwidth": (lambda r: _choice(r, (10, 20, 50, 100, 200, 250, 500, 1000, 2000)), _number(
        "{} Mbps", "{} megabits per second", {
            10: ["ten megabits"], 20: ["twenty megabits", "0.02 Gbps"], 50: ["fifty megabits", "0.05 Gbps"],
            100: ["0.1 Gbps", "a hundred megabits"], 200: ["0.2 Gbps"], 250: ["a quarter gigabit"],
            500: ["half a gigabit", "0.5 Gbps"], 1000: ["one gigabit", "1 Gbps"], 2000: ["two gigabits", "2 Gbps"]})),
    "level": (lambda r: _choice(r, ("low", "medium", "high")), _words(_LEVEL_WORDS)),
    "latency": (lambda r: _choice(r, (5, 10, 20, 100, 200)), _number("{} ms", "{} milliseconds", {
        5: ["five milliseconds"], 10: ["ten milliseconds", "0.01 s"], 20: ["twenty milliseconds", "0.02 s"],
        100: ["a tenth of a second", "0.1 s"], 200: ["a fifth of a second", "0.2 s"]})),
    "percent": (lambda r: _choice(r, (10, 20, 25, 50, 75, 100)), _number("{}%", "{} percent", {
        10: ["a tenth"], 20: ["a fifth"], 25: ["a quarter"], 50: ["half"], 75: ["three quarters"],
        100: ["all"]})),
    "time": (_sample_time, _say_time),
    "maint_minutes": (lambda r: _choice(r, (30, 45, 60, 90, 120, 180, 240)), _number("{} minutes", "{} min", {
        30: ["half an hour"], 45: ["three quarters of an hour"], 60: ["an hour", "one hour"],
        90: ["an hour and a half", "1.5 hours"], 120: ["two hours", "2 hours"], 180: ["3 hours"],
        240: ["four hours"]})),
    "power_minutes": (lambda r: _choice(r, (30, 120, 180, 240)), _number("{} minutes", "{} min", {
        30: ["half an hour"], 120: ["two hours"], 180: ["three hours", "3 hours"], 240: ["4 hours"]})),
    "no_notify": (lambda r: False, lambda v, level, r: ""),
    "power_mode": (lambda r: _choice(r, ("eco", "normal", "boost")), _words({
        "eco": (["eco mode"], ["the eco mode", "mode eco"], ["energy-saving mode", "a low-power mode"]),
        "normal": (["normal mode"], ["the normal mode", "mode normal"], ["its regular mode", "default power"]),
        "boost": (["boost mode"], ["the boost mode", "mode boost"], ["maximum-capacity mode", "full power"]),
    })),
    "uplink": (lambda r: "uplink", lambda v, level, r: ("uplink", "upload", "upload direction")[level]),
    "test_seconds": (lambda r: _choice(r, (5, 20, 30, 60)), _number("{} seconds", "{} s", {
        5: ["five seconds"], 20: ["twenty seconds"], 30: ["half a minute"], 60: ["a minute", "one minute"]})),
    "issue": (lambda r: _choice(r, ("outage", "degradation", "hardware", "configuration")), _words({
        "outage": (["an outage"], ["a full outage"], ["the site being completely down"]),
        "degradation": (["a degradation"], ["degraded service"], ["slow service", "poor speeds"]),
        "hardware": (["a hardware fault"], ["broken hardware"], ["a broken radio unit", "a dead antenna"]),
        "configuration": (["a configuration error"], ["a bad configuration"], ["a wrong setting"]),
    })),
    "n_clients": (lambda r: _choice(r, (5, 10, 12, 20, 24, 50, 100)), _number("{} clients", "{} devices", {
        5: ["five clients"], 10: ["ten devices"], 12: ["a dozen clients"], 20: ["twenty devices"],
        24: ["two dozen clients"], 50: ["fifty devices"], 100: ["a hundred clients"]})),
    "strategy": (lambda r: _choice(r, ("battery", "bandwidth")), _words({
        "battery": (["battery"], ["battery level"], ["who has the fullest batteries"]),
        "bandwidth": (["bandwidth"], ["link bandwidth"], ["who has the best connection"])})),
    "epochs": (lambda r: _choice(r, (2, 3, 5)), _number("{} local epochs", "{} epochs per client", {
        2: ["two passes over local data"], 3: ["three local epochs"], 5: ["five epochs per client"]})),
    "round": (lambda r: int(r.integers(10, 100)), lambda v, level, r: (f"round {v}", f"round #{v}", f"round {v}")[level]),
    "agg_method": (lambda r: _choice(r, ("fedprox", "median")), _words({
        "fedprox": (["fedprox"], ["FedProx"], ["the proximal FedProx rule"]),
        "median": (["median"], ["the median"], ["the robust coordinate-wise median"])})),
    "val_split": (lambda r: "validation", lambda v, level, r: ("validation", "validation data", "held-out validation data")[level]),
    "loss_metric": (lambda r: "loss", lambda v, level, r: ("loss", "the loss", "the loss, not accuracy")[level]),
    "version": (lambda r: int(r.integers(2, 10)), lambda v, level, r: (f"version {v}", f"v{v}", f"v{v}")[level]),
}  # fmt: skip

# tool -> (required args {arg: kind}, optional args {arg: (kind, " connecting {} words")}, templates)
SPECS: dict[str, tuple[dict, dict, tuple[str, ...]]] = {
    "get_cell_kpi": ({"cell_id": "cell", "metric": "kpi_metric"}, {"window_minutes": ("window", " over the last {}")}, (
        "What is the {metric} of {cell_id}{window_minutes}?", "Read {metric} for {cell_id}{window_minutes}.",
        "Show the {metric} KPI of {cell_id}{window_minutes}.",
        "I need {cell_id}'s {metric}{window_minutes}.", "How is {cell_id} doing on {metric}{window_minutes}?")),
    "get_cell_alarms": ({"cell_id": "cell"}, {"severity": ("severity", ", severity {}"), "hours": ("hours", " from the last {}")}, (
        "List the alarms of {cell_id}{severity}{hours}.", "Any alarms on {cell_id}{severity}{hours}?",
        "Show active faults for {cell_id}{severity}{hours}.",
        "Which alarms are raised at {cell_id}{severity}{hours}?", "Pull the fault list of {cell_id}{severity}{hours}.")),
    "configure_slice": ({"slice_id": "slice", "bandwidth_mbps": "bandwidth", "priority": "level"},
                        {"latency_ms": ("latency", " and a latency target of {}")}, (
        "Configure {slice_id} with {bandwidth_mbps} at {priority} priority{latency_ms}.",
        "Set {slice_id} to {bandwidth_mbps}, {priority} priority{latency_ms}.",
        "Give {slice_id} {bandwidth_mbps} and {priority} priority{latency_ms}.",
        "Guarantee {bandwidth_mbps} on {slice_id} as {priority} priority{latency_ms}.",
        "{slice_id} needs {bandwidth_mbps} with {priority} priority{latency_ms}.")),
    "reroute_traffic": ({"from_site": "site", "to_site": "site", "percent": "percent"}, {}, (
        "Move {percent} of the traffic from {from_site} to {to_site}.",
        "Reroute {percent} of {from_site} traffic to {to_site}.",
        "Shift {percent} of the load of {from_site} onto {to_site}.",
        "Offload {percent} of traffic at {from_site} to {to_site}.",
        "Let {to_site} take {percent} of the traffic of {from_site}.")),
    "schedule_maintenance": ({"site": "site", "start_time": "time", "duration_minutes": "maint_minutes"},
                             {"notify_users": ("no_notify", " without notifying users{}")}, (
        "Schedule maintenance at {site} {start_time} for {duration_minutes}{notify_users}.",
        "Book a maintenance window at {site} {start_time}, {duration_minutes} long{notify_users}.",
        "Plan {duration_minutes} of maintenance at {site} {start_time}{notify_users}.",
        "Take {site} offline {start_time} for {duration_minutes} of upkeep{notify_users}.",
        "{site} needs servicing {start_time}, lasting {duration_minutes}{notify_users}.")),
    "set_power_mode": ({"cell_id": "cell", "mode": "power_mode"}, {"duration_minutes": ("power_minutes", " for {}")}, (
        "Put {cell_id} in {mode}{duration_minutes}.", "Switch {cell_id} to {mode}{duration_minutes}.",
        "Set the power of {cell_id} to {mode}{duration_minutes}.",
        "Run {cell_id} in {mode}{duration_minutes}.", "I want {mode} on {cell_id}{duration_minutes}.")),
    "run_speed_test": ({"site": "site"}, {"direction": ("uplink", " for the {}"), "duration_seconds": ("test_seconds", " lasting {}")}, (
        "Run a speed test at {site}{direction}{duration_seconds}.",
        "Measure throughput at {site}{direction}{duration_seconds}.",
        "Test the speed at {site}{direction}{duration_seconds}.",
        "How fast is {site} right now? Check it{direction}{duration_seconds}.",
        "Benchmark the link at {site}{direction}{duration_seconds}.")),
    "open_ticket": ({"site": "site", "issue": "issue", "urgency": "level"}, {}, (
        "Open a ticket for {issue} at {site}, {urgency} urgency.",
        "File a {urgency} urgency ticket: {issue} at {site}.",
        "Report {issue} at {site} to the field team with {urgency} urgency.",
        "Raise a trouble ticket about {issue} in {site}; urgency {urgency}.",
        "Send a crew to {site}, {urgency} urgency, for {issue}.")),
    "select_fl_clients": ({"n_clients": "n_clients"}, {"strategy": ("strategy", " chosen by {}"), "region": ("site", " in {}")}, (
        "Select {n_clients} for the next FL round{strategy}{region}.",
        "Pick {n_clients} for federated training{strategy}{region}.",
        "Choose {n_clients} to participate{strategy}{region}.",
        "Enlist {n_clients} for federated learning{strategy}{region}.",
        "Which {n_clients} should train next? Select them{strategy}{region}.")),
    "start_fl_round": ({"model_name": "model", "n_clients": "n_clients"}, {"local_epochs": ("epochs", " and {}")}, (
        "Start an FL round of {model_name} with {n_clients}{local_epochs}.",
        "Begin federated training of {model_name} now on {n_clients}{local_epochs}.",
        "Launch a round of {model_name} training with {n_clients}{local_epochs}.",
        "Kick off {model_name} federated learning right away, {n_clients}{local_epochs}.",
        "Train {model_name} now across {n_clients}{local_epochs}.")),
    "schedule_fl_round": ({"model_name": "model", "start_time": "time", "n_clients": "n_clients"},
                          {"local_epochs": ("epochs", " and {}")}, (
        "Schedule an FL round of {model_name} {start_time} with {n_clients}{local_epochs}.",
        "Plan federated training of {model_name} {start_time} on {n_clients}{local_epochs}.",
        "Queue a round of {model_name} training {start_time} with {n_clients}{local_epochs}.",
        "Book {model_name} federated learning {start_time}, {n_clients}{local_epochs}.",
        "Later today, {start_time}, train {model_name} across {n_clients}{local_epochs}.")),
    "aggregate_models": ({"round_id": "round"}, {"method": ("agg_method", " using {}")}, (
        "Aggregate the updates of {round_id}{method}.", "Merge the client models from {round_id}{method}.",
        "Combine {round_id} updates into a global model{method}.",
        "Fuse what the clients sent in {round_id}{method}.", "Build the global model from {round_id}{method}.")),
    "evaluate_global_model": ({"model_name": "model"}, {"split": ("val_split", " on {}"), "metric": ("loss_metric", " reporting {}")}, (
        "Evaluate the global {model_name}{split}{metric}.", "How good is {model_name} now? Evaluate it{split}{metric}.",
        "Score the current {model_name}{split}{metric}.",
        "Measure the global {model_name} quality{split}{metric}.", "Test the latest {model_name}{split}{metric}.")),
    "deploy_model": ({"model_name": "model", "site": "site"}, {"version": ("version", ", {}")}, (
        "Deploy {model_name} to {site}{version}.", "Roll out {model_name} at {site}{version}.",
        "Push {model_name} to the edge servers of {site}{version}.",
        "Install {model_name} on {site} edge nodes{version}.", "Ship {model_name}{version} to {site}.")),
}  # fmt: skip

# workflow -> (goal templates, step tools). Goal slots are filled by tool_tasks._workflow_steps.
WORKFLOWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fl_deploy": (("Train {model_name} on {n_clients}, then deploy it to {site}.",
                   "Run one FL round of {model_name} with {n_clients} and ship the result to {site}.",
                   "Get {model_name} freshly trained by {n_clients} and deployed at {site}.",
                   "{site} should receive {model_name} newly trained with {n_clients}."),
                  ("select_fl_clients", "start_fl_round", "aggregate_models", "deploy_model")),
    "fl_eval": (("Train {model_name} with {n_clients} {start_time}, merge with {method}, then evaluate it.",
                 "Schedule {model_name} training {start_time} on {n_clients}, aggregate by {method}, evaluate.",
                 "Plan a round of {model_name} {start_time} with {n_clients}; combine using {method}; test it.",
                 "I want {model_name} scored after a {start_time} round of {n_clients} merged with {method}."),
                ("schedule_fl_round", "aggregate_models", "evaluate_global_model")),
    "congestion": (("{cell_id} at {site} seems congested: check PRB usage, set {mode}, then speed-test {site}.",
                    "Check the PRB usage of {cell_id}, switch it to {mode}, and test speed at {site}.",
                    "Relieve {cell_id}: read PRB usage, apply {mode}, verify with a speed test at {site}.",
                    "Users at {site} complain; inspect {cell_id} PRB usage, go {mode}, re-measure {site}."),
                   ("get_cell_kpi", "set_power_mode", "run_speed_test")),
    "fault": (("Check critical alarms on {cell_id}, open a {urgency} urgency ticket for {issue} at {site}.",
               "Look for critical alarms at {cell_id} and report {issue} at {site}, {urgency} urgency.",
               "If {cell_id} has critical alarms, file {issue} at {site} as {urgency} urgency.",
               "Triage {cell_id}: critical alarms first, then a {urgency} urgency ticket on {issue} at {site}."),
              ("get_cell_alarms", "open_ticket")),
    "maintenance": (("Move {percent} of traffic from {site} to {to_site}, then schedule maintenance at {site} "
                     "{start_time} for {duration_minutes}.",
                     "Before servicing {site} {start_time} for {duration_minutes}, shift {percent} of its load "
                     "to {to_site}.",
                     "Offload {percent} of {site} to {to_site} and book {duration_minutes} of maintenance "
                     "{start_time}.",
                     "{site} goes down for {duration_minutes} {start_time}; first hand {percent} of traffic "
                     "to {to_site}."),
                    ("reroute_traffic", "schedule_maintenance")),
    "slice": (("Speed-test {site}, then give {slice_id} {bandwidth_mbps} at {priority} priority.",
               "Measure {site} throughput and configure {slice_id} with {bandwidth_mbps}, {priority} priority.",
               "After a speed test at {site}, set {slice_id} to {bandwidth_mbps} and {priority} priority.",
               "Benchmark {site} first; {slice_id} then gets {bandwidth_mbps} as {priority} priority."),
              ("run_speed_test", "configure_slice")),
}  # fmt: skip
