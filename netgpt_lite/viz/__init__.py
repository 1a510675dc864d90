"""Pure Plotly figure builders, one module per chapter: each function takes data, returns a ``go.Figure``.

No module here computes results; they only draw what the library computed.  Interactive
widgets live in :mod:`netgpt_lite.viz.widgets`.
"""
