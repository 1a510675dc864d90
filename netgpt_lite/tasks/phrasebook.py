"""Phrasing data of the broad task variety: more sentence templates, goals, default and near-miss sentences.

Plain data, kept apart from the logic of :mod:`netgpt_lite.tasks.variety` as :mod:`netgpt_lite.tasks.templates`
is kept apart from :mod:`netgpt_lite.tasks.generate`.  Every list of sentences is split in two: *train*
sentences (used by the train and validation splits) and *test* sentences, never seen in training, so that
test accuracy still measures generalisation to new phrasings.

* :data:`BROAD_TEMPLATES` and :data:`BROAD_GOALS` map a tool / a workflow to ``(train, test)`` templates with
  the same ``{slot}`` names as the classic ones in :data:`~netgpt_lite.tasks.templates.SPECS` and
  :data:`~netgpt_lite.tasks.templates.WORKFLOWS`.  The ``reroute_traffic`` templates name countable things
  (sessions, users) so that a ratio such as "one in five" reads well in the ``{percent}`` slot.
* :data:`DEFAULT_SAID`, :data:`DEFAULT_LEFT` and :data:`NEAR_MISS` are lists whose last third is test-only
  (:func:`split_pool`); :data:`FRAMES` is split explicitly.  :data:`CASUAL` words are shared, like typos.
* :func:`single_pool` and :func:`goal_pool` give a split's templates, classic and broad, with their indices:
  broad ones are numbered after the classic ones (``single/{tool}/5`` is a tool's first broad template).

Example:
    >>> options = ("a", "b", "c", "d", "e", "f")
    >>> split_pool(options, test=False), split_pool(options, test=True)
    (('a', 'b', 'c', 'd'), ('e', 'f'))
"""

from __future__ import annotations

from netgpt_lite.tasks.templates import N_TRAIN_GOALS, N_TRAIN_TEMPLATES, SPECS, WORKFLOWS


def split_pool(options: tuple, test: bool) -> tuple:
    """The train part (the first two thirds, rounded up) or the test part (the rest) of a list of phrasings.

    Example:
        >>> split_pool(("x", "y", "z"), test=True)
        ('z',)
    """
    n_test = max(1, len(options) // 3)
    return options[-n_test:] if test else options[:-n_test]


# tool -> (train templates, test templates); every template holds every slot of its tool, optional ones included
BROAD_TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "get_cell_kpi": ((
        "Can you pull the {metric} for {cell_id}{window_minutes}?", "{cell_id}: report {metric}{window_minutes}.",
        "Quick check on {cell_id}, I want to see {metric}{window_minutes}.",
        "Give me the current {metric} reading at {cell_id}{window_minutes}.",
        "Look up {metric} on {cell_id}{window_minutes}, please."), (
        "What does {cell_id} show for {metric}{window_minutes}?",
        "Fetch the {metric} numbers of {cell_id}{window_minutes}.",
        "I'd like to know the {metric} at {cell_id}{window_minutes}.")),
    "get_cell_alarms": ((
        "Are there any faults on {cell_id}{severity}{hours}?", "Check {cell_id} for alarms{severity}{hours}.",
        "Give me the alarm list for {cell_id}{severity}{hours}.", "What's alarming at {cell_id}{severity}{hours}?",
        "Dump the open alarms on {cell_id}{severity}{hours}."), (
        "Has {cell_id} raised anything{severity}{hours}?", "Report every active alarm of {cell_id}{severity}{hours}.",
        "Show me what is going off at {cell_id}{severity}{hours}.")),
    "configure_slice": ((
        "Please set up {slice_id}: {bandwidth_mbps} guaranteed, {priority} priority{latency_ms}.",
        "Update {slice_id} so it gets {bandwidth_mbps} at {priority} priority{latency_ms}.",
        "Reserve {bandwidth_mbps} for {slice_id} with {priority} priority{latency_ms}.",
        "Provision {slice_id} at {bandwidth_mbps}, priority {priority}{latency_ms}.",
        "We need {slice_id} running with {bandwidth_mbps} and {priority} priority{latency_ms}."), (
        "Bump {slice_id} up to {bandwidth_mbps}, make it {priority} priority{latency_ms}.",
        "Allocate {bandwidth_mbps} to {slice_id} as {priority} priority{latency_ms}.",
        "{slice_id} is to get {bandwidth_mbps} and {priority} priority{latency_ms}.")),
    "reroute_traffic": ((
        "Send {percent} of the sessions at {from_site} over to {to_site}.",
        "Hand {percent} of the users of {from_site} to {to_site}.",
        "Please steer {percent} of the flows from {from_site} toward {to_site}.",
        "Move {percent} of the connections on {from_site} to {to_site}.",
        "{from_site} is overloaded: push {percent} of its users to {to_site}."), (
        "Redirect {percent} of the calls from {from_site} onto {to_site}.",
        "Have {to_site} absorb {percent} of the sessions from {from_site}.",
        "Transfer {percent} of the devices served by {from_site} to {to_site}.")),
    "schedule_maintenance": ((
        "Set up a maintenance window for {site} {start_time}, {duration_minutes}{notify_users}.",
        "We'll service {site} {start_time}; block {duration_minutes}{notify_users}.",
        "Reserve {duration_minutes} for upkeep at {site} starting {start_time}{notify_users}.",
        "Maintenance needed at {site}: start {start_time}, duration {duration_minutes}{notify_users}.",
        "Put {site} into maintenance {start_time} for {duration_minutes}{notify_users}."), (
        "Arrange {duration_minutes} of site work at {site} {start_time}{notify_users}.",
        "Can you book downtime for {site} {start_time} lasting {duration_minutes}{notify_users}?",
        "{site} maintenance: begins {start_time}, takes {duration_minutes}{notify_users}.")),
    "set_power_mode": ((
        "Change {cell_id} over to {mode}{duration_minutes}.", "{cell_id} should go into {mode}{duration_minutes}.",
        "Please flip {cell_id} to {mode}{duration_minutes}.", "Apply {mode} to {cell_id}{duration_minutes}.",
        "Configure {cell_id} for {mode}{duration_minutes}."), (
        "Have {cell_id} run in {mode}{duration_minutes}.", "Move {cell_id} into {mode}{duration_minutes}.",
        "Time to put {cell_id} on {mode}{duration_minutes}.")),
    "run_speed_test": ((
        "Kick off a throughput test at {site}{direction}{duration_seconds}.",
        "Check the link speed at {site}{direction}{duration_seconds}.",
        "Do a bandwidth test from {site}{direction}{duration_seconds}.",
        "Start a speed measurement at {site}{direction}{duration_seconds}.",
        "I want a fresh speed test for {site}{direction}{duration_seconds}."), (
        "Probe the throughput of {site}{direction}{duration_seconds}.",
        "Could you clock the connection at {site}{direction}{duration_seconds}?",
        "Speed-check {site}{direction}{duration_seconds}.")),
    "open_ticket": ((
        "Log a ticket about {issue} at {site}, urgency {urgency}.",
        "Create a trouble ticket for {issue} at {site} with {urgency} urgency.",
        "The field team must look at {issue} in {site}; mark it {urgency} urgency.",
        "Ticket for {issue} at {site}, {urgency} urgency please.",
        "We have {issue} at {site}. Open a ticket, {urgency} urgency."), (
        "Write up {issue} at {site} for the technicians, {urgency} urgency.",
        "Escalate {issue} at {site} in a ticket of {urgency} urgency.",
        "Ticket needed: {issue}, site {site}, urgency {urgency}.")),
    "select_fl_clients": ((
        "Get {n_clients} ready for the next federated round{strategy}{region}.",
        "Pick out {n_clients} to train{strategy}{region}.",
        "Please select {n_clients} as FL participants{strategy}{region}.",
        "I need {n_clients} for federated learning{strategy}{region}.",
        "Recruit {n_clients} for the upcoming round{strategy}{region}."), (
        "Line up {n_clients} for FL training{strategy}{region}.",
        "Nominate {n_clients} for the coming federated round{strategy}{region}.",
        "Find {n_clients} to join the next round{strategy}{region}.")),
    "start_fl_round": ((
        "Fire up federated training of {model_name} with {n_clients}{local_epochs}, starting now.",
        "Start training {model_name} right now on {n_clients}{local_epochs}.",
        "Immediately launch an FL round for {model_name} using {n_clients}{local_epochs}.",
        "Go ahead and run an FL round of {model_name} now with {n_clients}{local_epochs}.",
        "Begin a federated round of {model_name} at once, {n_clients}{local_epochs}."), (
        "Get {model_name} training now across {n_clients}{local_epochs}.",
        "Let's start an FL round of {model_name} this instant with {n_clients}{local_epochs}.",
        "Run {model_name} federated learning immediately on {n_clients}{local_epochs}.")),
    "schedule_fl_round": ((
        "Set up training of {model_name} {start_time} with {n_clients}{local_epochs}.",
        "Arrange federated learning of {model_name} for later, {start_time}, with {n_clients}{local_epochs}.",
        "Put an FL round of {model_name} on the calendar {start_time} using {n_clients}{local_epochs}.",
        "Have {model_name} train {start_time} on {n_clients}{local_epochs}.",
        "Reserve a slot {start_time} to train {model_name} with {n_clients}{local_epochs}."), (
        "Line up {model_name} federated training {start_time}, {n_clients}{local_epochs}.",
        "I'd like an FL round of {model_name} to run {start_time} with {n_clients}{local_epochs}.",
        "Program an FL round of {model_name} {start_time} across {n_clients}{local_epochs}.")),
    "aggregate_models": ((
        "Average the client updates from {round_id}{method}.", "Please aggregate {round_id}{method}.",
        "Produce a new global model out of {round_id}{method}.", "Time to merge the updates of {round_id}{method}.",
        "Roll the updates of {round_id} into the global model{method}."), (
        "Consolidate the client models of {round_id}{method}.", "Aggregate whatever came back in {round_id}{method}.",
        "Turn the client updates of {round_id} into one global model{method}.")),
    "evaluate_global_model": ((
        "Check how well the global {model_name} performs{split}{metric}.",
        "Run an evaluation of {model_name}{split}{metric}.",
        "Give me the score of the global {model_name}{split}{metric}.",
        "Assess the current {model_name}{split}{metric}.", "Benchmark the federated {model_name}{split}{metric}."), (
        "What's the quality of {model_name} right now? Evaluate it{split}{metric}.",
        "Grade the aggregated {model_name}{split}{metric}.",
        "Report how the global {model_name} is doing{split}{metric}.")),
    "deploy_model": ((
        "Push {model_name}{version} out to {site}.", "Get {model_name} running on the {site} edge{version}.",
        "Deploy {model_name} over at {site}{version}.", "Please install {model_name}{version} at {site}.",
        "Send {model_name} to the edge servers at {site}{version}."), (
        "Make {model_name}{version} live at {site}.", "Roll {model_name} onto {site}{version}.",
        "Put {model_name} into service at {site}{version}.")),
}  # fmt: skip

# workflow -> (train goals, test goals); each goal holds every slot its workflow's calls need
BROAD_GOALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fl_deploy": ((
        "Get {n_clients} to train {model_name} in one federated round, then put it live at {site}.",
        "A fresh {model_name} at {site}: one FL round with {n_clients}, aggregate, deploy.",
        "Retrain {model_name} federatedly using {n_clients} and roll it out to {site}."), (
        "Deliver a newly trained {model_name} (one round, {n_clients}) to the {site} edge.",
        "One FL round of {model_name} across {n_clients}, then deployment at {site}.")),
    "fl_eval": ((
        "Set up an FL round of {model_name} {start_time} for {n_clients}, combine with {method}, then score it.",
        "Round of {model_name} {start_time} with {n_clients}, aggregation by {method}, then an evaluation.",
        "Evaluate {model_name} after a round scheduled {start_time} on {n_clients} and merged by {method}."), (
        "Plan {model_name} training {start_time} with {n_clients}, fuse with {method}, check its quality.",
        "Queue {model_name} training {start_time} with {n_clients}, aggregate via {method}, then evaluate.")),
    "congestion": ((
        "Traffic jam at {site} around {cell_id}: read its PRB usage, move it to {mode}, re-test {site}.",
        "Handle congestion on {cell_id}: PRB usage first, {mode} next, then a speed test at {site}.",
        "For {site}, look at the PRB usage of {cell_id}, set {mode}, and measure speed at {site} again."), (
        "{cell_id} is overloaded near {site}; inspect PRB usage, switch to {mode}, speed-test {site}.",
        "Sort out {cell_id}: check PRB load, put it in {mode}, confirm with a speed test of {site}.")),
    "fault": ((
        "Scan {cell_id} for critical alarms, then ticket {issue} at {site} with {urgency} urgency.",
        "First the critical alarms of {cell_id}, then a ticket of {urgency} urgency for {issue} at {site}.",
        "Investigate the critical alarms of {cell_id} and log {issue} at {site}, urgency {urgency}."), (
        "Review critical alarms on {cell_id}; afterwards raise {issue} at {site} as {urgency} urgency.",
        "{site} reports {issue}: check {cell_id} critical alarms, then a ticket with {urgency} urgency.")),
    "maintenance": ((
        "Drain {percent} of the traffic of {site} to {to_site}, then book {duration_minutes} of maintenance at "
        "{site} {start_time}.",
        "Prep {site} for servicing {start_time} ({duration_minutes}): first shift {percent} of its traffic to "
        "{to_site}.",
        "Reroute {percent} of {site} to {to_site}; afterwards schedule {duration_minutes} of upkeep at {site} "
        "{start_time}."), (
        "Ahead of {duration_minutes} of work at {site} {start_time}, move {percent} of its traffic to {to_site}.",
        "Shift {percent} of the load from {site} to {to_site} and plan maintenance there {start_time} for "
        "{duration_minutes}.")),
    "slice": ((
        "Test the speed at {site}, then set {slice_id} to {bandwidth_mbps} with {priority} priority.",
        "Measure {site} first; afterwards {slice_id} gets {bandwidth_mbps}, {priority} priority.",
        "Run a speed test at {site} and then provision {slice_id}: {bandwidth_mbps}, {priority} priority."), (
        "Check throughput at {site}, then reconfigure {slice_id} for {bandwidth_mbps} at {priority} priority.",
        "Before giving {slice_id} {bandwidth_mbps} and {priority} priority, speed-test {site}.")),
}  # fmt: skip

# optional argument -> connecting words that state its default (they replace the argument's optional slot)
DEFAULT_SAID: dict[str, tuple[str, ...]] = {
    "window_minutes": (" over the default 15-minute window", " averaged over the usual 15 minutes",
                       " over the standard quarter-hour window"),
    "severity": (", major and above as usual", ", at the default major severity", ", severity major (the default)"),
    "hours": (" over the default 24 hours", " from the usual last 24 hours", " for the standard 24-hour lookback"),
    "latency_ms": (" with the default 50 ms latency target", " and the usual 50 ms latency",
                   " keeping the standard 50 millisecond latency"),
    "notify_users": (" and notify users as usual", ", warning the users as normal", " with the usual user notice"),
    "duration_minutes": (" for the default hour", " for the standard 60 minutes", " for the usual one hour"),
    "direction": (" on the downlink as usual", " in the default downlink direction",
                  " for the downlink, the default"),
    "duration_seconds": (" with the default 10 second duration", " for the usual 10 seconds",
                         " lasting the standard ten seconds"),
    "strategy": (" picked at random as usual", " using the default random selection",
                 " chosen at random, the default"),
    "region": (" from all regions", " across all regions as usual", " with region all (the default)"),
    "local_epochs": (" with the default single local epoch", " and one local epoch as usual",
                     " at the standard 1 epoch per client"),
    "method": (" with plain fedavg, the default", " using the default FedAvg", " by the usual fedavg averaging"),
    "split": (" on the test split as usual", " on the default test data", " on the standard test set"),
    "metric": (" reporting accuracy (the default)", " with the usual accuracy metric",
               " measured by accuracy as normal"),
    "version": (", version 1 (the default)", ", the default version 1", ", at the usual version one"),
}  # fmt: skip

# sentences that leave an optional argument to its default ({noun} names it), and each argument's noun
DEFAULT_LEFT = ("Keep the default {noun}.", "No need to change the {noun}.", "Leave the {noun} as it is.",
                "The {noun} can stay at its default.", "Don't bother setting the {noun}.",
                "Whatever the default {noun} is, use that.")  # fmt: skip
ARG_NOUNS = {"window_minutes": "averaging window", "severity": "severity filter", "hours": "lookback period",
             "latency_ms": "latency target", "notify_users": "user notification setting",
             "duration_minutes": "duration", "direction": "test direction", "duration_seconds": "test duration",
             "strategy": "selection strategy", "region": "region", "local_epochs": "number of local epochs",
             "method": "aggregation method", "split": "data split", "metric": "metric",
             "version": "version"}  # fmt: skip

# gold tool -> (excluded similar tool, sentence ruling it out); the excluded tool is always among the offered ones
NEAR_MISS: dict[str, tuple[tuple[str, str], ...]] = {
    "get_cell_kpi": (("run_speed_test", "No speed test needed, just read the counter."),
                     ("get_cell_alarms", "I'm not after the alarm list."),
                     ("run_speed_test", "Don't launch an active test; the KPI is enough."),
                     ("get_cell_alarms", "Skip the alarms, I only want the KPI."),
                     ("run_speed_test", "Rather than measuring with a speed test, read the stored KPI."),
                     ("get_cell_alarms", "Not the faults, the performance figure.")),
    "get_cell_alarms": (("get_cell_kpi", "Not the KPIs, the alarms."), ("open_ticket", "Don't open a ticket yet."),
                        ("get_cell_kpi", "Skip the performance counters."),
                        ("open_ticket", "No ticket for now, just look."),
                        ("open_ticket", "Hold off on any ticket; a listing is enough."),
                        ("get_cell_kpi", "I don't need throughput or latency figures.")),
    "configure_slice": (("set_power_mode", "Leave the cell power modes alone."),
                        ("reroute_traffic", "Don't reroute any traffic."),
                        ("set_power_mode", "No power-mode change, only the slice."),
                        ("reroute_traffic", "Moving traffic between sites is not what I want."),
                        ("set_power_mode", "Don't touch power settings."),
                        ("reroute_traffic", "Keep the traffic where it is.")),
    "reroute_traffic": (("configure_slice", "Don't touch the slice settings."),
                        ("schedule_maintenance", "No maintenance window, just move the traffic."),
                        ("configure_slice", "This is not a slice change."),
                        ("schedule_maintenance", "Nothing goes offline, so no maintenance booking."),
                        ("configure_slice", "Leave slice bandwidth as it is."),
                        ("schedule_maintenance", "There is no maintenance to plan.")),
    "schedule_maintenance": (("reroute_traffic", "Don't move any traffic yet."),
                             ("schedule_fl_round", "This is site upkeep, not a training round."),
                             ("reroute_traffic", "No rerouting for now."), ("open_ticket", "No need for a ticket."),
                             ("schedule_fl_round", "Not an FL round: real maintenance."),
                             ("reroute_traffic", "Leave the traffic alone.")),
    "set_power_mode": (("configure_slice", "No slice changes."),
                       ("schedule_maintenance", "Don't take the site offline."),
                       ("configure_slice", "Don't reconfigure any slice; just the power mode."),
                       ("schedule_maintenance", "This isn't maintenance."),
                       ("configure_slice", "Slices stay as they are."),
                       ("schedule_maintenance", "No downtime needed.")),
    "run_speed_test": (("get_cell_kpi", "Don't just read the KPI counters, run a real test."),
                       ("evaluate_global_model", "This is about the link, not the model."),
                       ("get_cell_kpi", "Stored KPIs won't do; measure it."),
                       ("evaluate_global_model", "Not a model evaluation."),
                       ("get_cell_kpi", "Skip the KPI readout; I want an active measurement."),
                       ("evaluate_global_model", "Network speed, not model quality.")),
    "open_ticket": (("get_cell_alarms", "No need to list alarms first."),
                    ("schedule_maintenance", "Don't book maintenance; a ticket is enough."),
                    ("get_cell_alarms", "The alarms were already checked."),
                    ("schedule_maintenance", "Not a maintenance window."),
                    ("get_cell_alarms", "Don't pull the alarm list again."),
                    ("schedule_maintenance", "No downtime booking, just the ticket.")),
    "select_fl_clients": (("start_fl_round", "Don't start the round yet, only pick the clients."),
                          ("schedule_fl_round", "Nothing to schedule yet."), ("start_fl_round", "No training yet."),
                          ("schedule_fl_round", "Don't put a round on the calendar."),
                          ("start_fl_round", "Hold the training; selection only."),
                          ("schedule_fl_round", "No scheduling, just choose them.")),
    "start_fl_round": (("schedule_fl_round", "Not a scheduled round, start it now."),
                       ("select_fl_clients", "The clients need no separate selection step."),
                       ("schedule_fl_round", "No scheduling for later."),
                       ("select_fl_clients", "Skip client selection."),
                       ("schedule_fl_round", "Don't queue it for later."),
                       ("select_fl_clients", "No need to pick clients beforehand.")),
    "schedule_fl_round": (("start_fl_round", "Don't start it right away."),
                          ("schedule_maintenance", "This is training, not maintenance."),
                          ("start_fl_round", "Not now, later."),
                          ("select_fl_clients", "No separate client selection."),
                          ("start_fl_round", "It must not begin immediately."),
                          ("schedule_maintenance", "No maintenance window involved.")),
    "aggregate_models": (("evaluate_global_model", "Don't evaluate yet, just aggregate."),
                         ("start_fl_round", "No new round."), ("evaluate_global_model", "Evaluation comes later."),
                         ("start_fl_round", "Don't launch another round."),
                         ("evaluate_global_model", "No scoring for now."),
                         ("start_fl_round", "Training is over; no further round.")),
    "evaluate_global_model": (("aggregate_models", "No aggregation needed, it's done."),
                              ("run_speed_test", "Model quality, not link speed."),
                              ("aggregate_models", "Don't merge anything."), ("run_speed_test", "No speed test."),
                              ("aggregate_models", "The updates are already merged."),
                              ("run_speed_test", "Not a network test.")),
    "deploy_model": (("evaluate_global_model", "Skip the evaluation."),
                     ("aggregate_models", "No need to aggregate again."),
                     ("evaluate_global_model", "Don't score it first."),
                     ("aggregate_models", "Don't merge anything."),
                     ("evaluate_global_model", "No evaluation run."),
                     ("aggregate_models", "It is already aggregated.")),
}  # fmt: skip

# how a next_step prompt names the finished steps and asks: (train frames, test frames); the classic ones first
FRAMES = ((("Done", "Next call?"), ("Finished so far", "What is the next call?"),
           ("Already run", "Which call comes next?")),
          (("Completed", "What now?"), ("Steps taken", "What should be called next?")))  # fmt: skip

# casual openers and closers of the typos feature; "asap" only where no start time is given (it would contradict it)
CASUAL = (("pls ", "hey, ", "quick one: ", "can u ", "hi team, ", "plz ", "yo "),
          (" pls", " thx", " ty", " !!", " plz", " thanks", " cheers"))  # fmt: skip
URGENT = (" asap", " ASAP", ", asap pls")


def single_pool(name: str, test: bool) -> list[tuple[int, str]]:
    """``(template index, template)`` of a tool for the test split or for train/validation, classic ones first.

    Broad templates are numbered after the classic ones: ``single/{tool}/5`` is the first broad train template.
    """
    classic = SPECS[name][2]
    train, held_out = BROAD_TEMPLATES[name]
    pool = [(i, t) for i, t in enumerate(classic) if (i >= N_TRAIN_TEMPLATES) == test]
    return pool + [(len(classic) + j, t) for j, t in enumerate(train + held_out) if (j >= len(train)) == test]


def goal_pool(workflow: str, test: bool) -> list[tuple[int, str]]:
    """``(goal index, goal)`` of a workflow for the test split or for train/validation, classic ones first."""
    classic = WORKFLOWS[workflow][0]
    train, held_out = BROAD_GOALS[workflow]
    pool = [(i, g) for i, g in enumerate(classic) if (i >= N_TRAIN_GOALS) == test]
    return pool + [(len(classic) + j, g) for j, g in enumerate(train + held_out) if (j >= len(train)) == test]


def extra_template_ids(test: bool) -> list[str]:
    """The ids of the broad templates a split may use on top of the classic ones.

    Example:
        >>> extra_template_ids(test=False)[:2], extra_template_ids(test=True)[0]
        (['single/get_cell_kpi/5', 'single/get_cell_kpi/6'], 'single/get_cell_kpi/10')
    """
    single = [f"single/{n}/{i}" for n in SPECS for i, _ in single_pool(n, test) if i >= len(SPECS[n][2])]
    goals = [f"next/{w}/{i}" for w in WORKFLOWS for i, _ in goal_pool(w, test) if i >= len(WORKFLOWS[w][0])]
    return single + goals
