"""The Plan page's shortlist as a product manager reads it: the use case's kind and required
capabilities, a quality signal chosen on the page (and named there), one row per model, and the
cost/quality chart. Streamlit glue over planning.shortlist.product_shortlist."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from llmledger import config
from llmledger.planning import quality as q
from llmledger.planning.product_shortlist import CAPABILITIES, KINDS, guess_kind, kind_prices, product_shortlist
from llmledger.planning.shortlist import lab_latency
from llmledger.ui import format as fmt
from llmledger.ui.common import connection

PUBLIC = "public"
NONE = "none"
UPLOAD = "upload"

TABLE_COLUMNS = {
    "rank": st.column_config.NumberColumn("#", width="small"),
    "model": st.column_config.TextColumn("Model (entry shown)"),
    "provider": st.column_config.TextColumn("Sold by"),
    "route": st.column_config.TextColumn(
        "Route", help="first-party: the maker's own API; cloud: Bedrock, Vertex AI or Azure; reseller: anyone else"
    ),  # fmt: skip
    "quality": st.column_config.NumberColumn("Quality", format="%.1f"),
    "scored_as": st.column_config.TextColumn("Score is for", help="The model name the quality source used"),
    "frontier": st.column_config.CheckboxColumn(
        "Best value", help="No other scored model is both cheaper and better (the cost/quality frontier)"
    ),
    "cost_per_request_usd": st.column_config.NumberColumn("Per request", format="$%.5f"),
    "first_month_usd": st.column_config.NumberColumn("First month", format="dollar"),
    "horizon_total_usd": st.column_config.NumberColumn("Horizon total", format="dollar"),
    "also_via": st.column_config.TextColumn("Also sold by"),
    "cheapest_route": st.column_config.TextColumn("Cheaper route"),
    "context_window": st.column_config.NumberColumn("Context (tokens)", format="localized"),
    "note": st.column_config.TextColumn("Note"),
}
EXCLUDED_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "provider": st.column_config.TextColumn("Provider"),
    "first_month_usd": st.column_config.NumberColumn("First month", format="dollar"),
    "reasons": st.column_config.TextColumn("Why not", width="large"),
}


@st.cache_resource(show_spinner="Loading embedding models…", ttl=300)
def _embedding_prices(db: str, sheet: str):
    return kind_prices(connection(), sheet, "embedding")


@st.cache_resource(show_spinner=False)
def _public_quality() -> q.QualityTable:
    return q.public_table()


def _whatif_quality(key: str) -> q.QualityTable:
    """A What-if outcome dataset's mean score per model (your evals)."""
    from llmledger.simulate import datasets

    d = datasets.load_builtin(key)
    means = {m: float(d.scores[:, j].mean()) for j, m in enumerate(d.models)}
    return q.from_scores(means, f"your evals: {d.name} ({d.n_queries:,} queries)", d.score_unit, 1.0)


def _whatif_choices() -> dict[str, str]:
    try:
        from llmledger.simulate import datasets

        return {f"whatif:{b.key}": f"Your evals: {b.title}" for b in datasets.builtin_datasets()}
    except Exception:  # the What-if area is optional here: no datasets, no choice
        return {}


def quality_picker(key: str) -> q.QualityTable | None:
    """Choose the quality signal; the page says which one ranked the list."""
    choices = {PUBLIC: f"Public benchmark: {q.PUBLIC_SOURCE}", UPLOAD: "Your evals: upload a model,score CSV"}
    choices |= _whatif_choices()
    choices[NONE] = "None: rank by cost alone"
    pick = st.selectbox("Rank by quality from", list(choices), format_func=choices.get, key=key)
    if pick == PUBLIC:
        return _public_quality()
    if pick == UPLOAD:
        up = st.file_uploader("Your evals (CSV with columns model, score)", type=["csv"], key=f"{key}_csv")
        return q.from_csv_bytes(up.getvalue(), up.name) if up is not None else None
    if pick.startswith("whatif:"):
        return _whatif_quality(pick.split(":", 1)[1])
    return None


def _log_ticks(values: pd.Series) -> dict:
    """1-2-5 ticks labelled in dollars across the values' range (a log axis labels only decades)."""
    v = values[values > 0]
    if v.empty:
        return {}
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5) if v.min() / 2 <= m * 10.0**e <= v.max() * 2]
    return dict(tickvals=ticks, ticktext=[fmt.usd(t) for t in ticks])


def frontier_chart(table: pd.DataFrame, unit: str, top: int = 40) -> go.Figure:
    """Quality against first-month cost (log scale) for the scored models; the frontier in colour."""
    d = table[table["quality"].notna()].head(top)
    fig = go.Figure()
    for on, name, color in ((True, "Best value (frontier)", "#F58518"), (False, "Dominated", "#9D9D9D")):
        part = d[d["frontier"] == on]
        fig.add_trace(
            go.Scatter(
                x=part["first_month_usd"].tolist(),
                y=part["quality"].tolist(),
                mode="markers+text" if on else "markers",
                text=fmt.plain_labels([m.rsplit("/", 1)[-1] for m in part["model"]]) if on else None,
                textposition="top center",
                cliponaxis=False,
                name=name,
                marker=dict(color=color, size=11 if on else 8),
                customdata=fmt.plain_labels(part["model"]),
                hovertemplate="%{customdata}<br>%{x:$,.2f} first month<br>quality %{y:.1f}<extra></extra>",
            )
        )
    fig.update_layout(
        title="Quality against the first month's bill (scored models)",
        xaxis=dict(title="First month (USD, log scale)", type="log", **_log_ticks(d["first_month_usd"])),
        yaxis=dict(title=unit),
        height=420,
        margin=dict(l=60, r=60, t=50, b=10),
        legend=dict(orientation="h", y=-0.2),
    )
    return fig


def shortlist_panel(rs, which: str, sheet: dict, sheet_name: str, on_pick=None) -> None:
    """The Shortlist tab's body for use case `which`. `on_pick(model)` is called when the PM
    chooses a model for the use case."""
    uc = rs.use_case(which)
    c1, c2, c3 = st.columns([1, 2, 2])
    kinds = list(KINDS)
    kind = c1.radio(
        "This use case is",
        kinds,
        index=kinds.index(guess_kind(uc)),
        format_func=KINDS.get,
        key=f"pf_short_kind_{which}",
        help="Chat: text generation. Embeddings: turning text into vectors (no output tokens).",
    )
    default_need = ["vision"] if "image" in uc.modalities and kind == "chat" else []
    need = c2.multiselect(
        "It needs",
        list(CAPABILITIES),
        default=default_need,
        format_func=CAPABILITIES.get,
        key=f"pf_short_need_{which}",
        disabled=kind != "chat",
        help="Checked against LiteLLM's supports_* flags for each model.",
    )
    with c3:
        quality = quality_picker("pf_short_quality")
    prices = sheet if kind == "chat" else _embedding_prices(str(config.db_path()), sheet_name)
    need = tuple(need) if kind == "chat" else ()
    ps = product_shortlist(rs, which, prices, lab_latency(connection()), kind=kind, need=need, quality=quality)
    st.markdown(f"**{fmt.plain_markdown(ps.headline())}**")
    if ps.quality_source:
        st.caption(
            fmt.plain_markdown(
                f"Quality: {ps.quality_source}, in {ps.quality_unit}. Rows first: the best-value frontier "
                "(cheapest first), then the other scored models by quality, then models without a score by cost."
            )
        )
    for n in ps.notes:
        st.info(fmt.plain_markdown(n))
    st.caption(
        "Left out for a chat use case, by the sheet's mode or by name: safety classifiers (guard, safety, "
        "shield, moderation), OCR, code models (coder, codestral, devstral, codex; kept when the use case "
        "mentions code), embedding/rerank, speech/audio, image/video generation, search agents, math models."
    )
    if len(ps.table):
        if ps.table["quality"].notna().any():
            st.plotly_chart(frontier_chart(ps.table, ps.quality_unit or "quality"), key="pf_short_chart")
        if on_pick is not None:
            pick = st.columns([3, 1])
            chosen = pick[0].selectbox("Model for this use case", list(ps.table["model"]), key="pf_short_pick")
            if pick[1].button("Use this model", icon=":material/check:", key="pf_short_use", use_container_width=True):
                on_pick(chosen)
    st.dataframe(
        ps.table,
        hide_index=True,
        key="pf_short_ok",
        column_config=TABLE_COLUMNS,
        column_order=[c for c in TABLE_COLUMNS if c != "scored_as" or ps.quality_source],
    )
    with st.expander(f"Excluded ({len(ps.excluded):,}) and why"):
        st.dataframe(ps.excluded, hide_index=True, key="pf_short_bad", column_config=EXCLUDED_COLUMNS)
