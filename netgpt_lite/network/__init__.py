"""The network between edge and cloud (chapter 1): states, regimes, the latency model, traces, prices.

Every public name of the modules below is re-exported here.
"""


from netgpt_lite.network.mahimahi import (
    BASE_RTT_MS,
    EXAMPLE_MAHIMAHI,
    MAHIMAHI_PACKET_BYTES,
    MAX_QUEUEING_MS,
    MIN_BANDWIDTH_MBPS,
    STANDING_QUEUE_BYTES,
    modelled_rtt_ms,
    read_mahimahi,
    synthetic_drive,
    technology_of,
    write_mahimahi,
)
from netgpt_lite.network.pricing import (
    PRICING_SCHEDULES,
    SECONDS_PER_DAY,
    FlatPricing,
    PeakOffPeakPricing,
    Price,
    PricingSchedule,
    SurgePricing,
    request_cost_usd,
)
from netgpt_lite.network.state import (
    REACHABLE_REGIMES,
    REGIMES,
    LatencyModel,
    NetworkState,
    Regime,
    cloud_time_ms,
    edge_time_ms,
    nearest_regime,
    positive_array,
    transfer_time_ms,
)
from netgpt_lite.network.traces import (
    EXAMPLE_TRACE_CSV,
    NetworkTrace,
    commute_trace,
    looped,
    markov_trace,
    read_trace_csv,
    write_trace_csv,
)

__all__ = [
    "positive_array",
    "NetworkState",
    "Regime",
    "REGIMES",
    "REACHABLE_REGIMES",
    "LatencyModel",
    "transfer_time_ms",
    "cloud_time_ms",
    "edge_time_ms",
    "nearest_regime",
    "NetworkTrace",
    "markov_trace",
    "commute_trace",
    "EXAMPLE_TRACE_CSV",
    "write_trace_csv",
    "read_trace_csv",
    "SECONDS_PER_DAY",
    "Price",
    "request_cost_usd",
    "PricingSchedule",
    "FlatPricing",
    "PeakOffPeakPricing",
    "SurgePricing",
    "PRICING_SCHEDULES",
    "MAHIMAHI_PACKET_BYTES",
    "BASE_RTT_MS",
    "STANDING_QUEUE_BYTES",
    "MAX_QUEUEING_MS",
    "MIN_BANDWIDTH_MBPS",
    "modelled_rtt_ms",
    "technology_of",
    "read_mahimahi",
    "write_mahimahi",
    "synthetic_drive",
    "EXAMPLE_MAHIMAHI",
    "looped",
]
