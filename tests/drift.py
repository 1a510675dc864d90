"""What a drift sample says when a shipped artifact's numbers no longer hold: shared by the drift tests
(``tests/test_artifact_drift*.py``), which recompute a few rows, one cell or one step of each artifact."""

from __future__ import annotations

from netgpt_lite import provenance as pv


def drifted(rel: str, what: str, stored, today) -> str:
    """The failure message: which artifact, which number, both values, and how to regenerate it."""
    return (f"{rel} drifted: {what}: the artifact stores {stored!r}, today's code gives {today!r}. If the change is "
            f"intended, regenerate it with `{pv.SHIPPED[rel][1]}` and commit the result.")
