"""Ingest: receiver status, quarantined batches, trace file import, attribution rules, demo data.

Each section has its own error boundary, so a failed import or a bad rule leaves the rest usable.
"""

import streamlit as st

from llmledger.reads import rules
from llmledger.telemetry.attribution import reextract_all
from llmledger.telemetry.ingest import ingest_blobs
from llmledger.ui import call_reads, common, content_widgets, quarantine_widgets, widgets
from llmledger.ui import format as fmt
from llmledger.ui.common import page_setup, show_errors

page_setup("Ingest", "📥")
st.title("Ingest")

with show_errors():
    widgets.show_flash()
    widgets.demo_banner(call_reads.call_count(True), where="below")

st.subheader("OTLP receiver")
st.caption(
    "Send OTLP traces and logs (protobuf or JSON, optionally gzip) over HTTP or gRPC. Every accepted "
    "request is spooled to disk before the OK, then loaded into DuckDB."
)
with show_errors():
    content_widgets.endpoints(common.service())
    widgets.receiver_status(common.service())
    content_widgets.log_records()
    st.button("Refresh status", key="ingest_refresh")

st.subheader("Message content")
with show_errors():
    content_widgets.content_policy()

st.subheader("Quarantined batches")
st.caption(
    "Spooled requests the loader could not load are set aside with the reason. Retry puts them back "
    "in the spool to load again (a batch never loads twice); Drop deletes them."
)
with show_errors():
    held = quarantine_widgets.quarantined_frame()
    if held.empty:
        st.caption("No quarantined batches.")
    else:
        st.dataframe(held, hide_index=True, key="ingest_quarantine_table", column_config=quarantine_widgets.columns())
        picked = st.multiselect("Batches", held["name"].tolist(), key="ingest_quarantine_pick")
        left, right = st.columns([1, 4])
        if left.button("Retry", key="ingest_quarantine_retry", type="primary", disabled=not picked):
            widgets.flash(quarantine_widgets.retry(picked))
            widgets.data_changed()
            st.rerun()
        if right.button("Drop", key="ingest_quarantine_drop", disabled=not picked):
            widgets.flash(quarantine_widgets.drop(picked))
            st.rerun()

st.subheader("Import trace and log files")
with show_errors():
    files = st.file_uploader(
        "OTLP JSON, Collector JSON Lines or protobuf, optionally gzipped",
        type=["json", "jsonl", "pb", "gz"],
        accept_multiple_files=True,
        key="ingest_files",
    )
    if st.button("Import", key="ingest_import", type="primary", disabled=not files):
        bar = st.progress(0.0, text="Importing…")
        result = ingest_blobs(
            common.resources()["con"],
            [(f.name, f.getvalue()) for f in files],
            source="upload",
            progress=lambda done, total, msg: bar.progress(min(1.0, done / max(total, 1)), text=msg),
        ).as_dict()
        widgets.data_changed()
        (st.warning if result["rejected"] else st.success)(f"Imported {len(files)} file(s): {fmt.load_summary(result)}")
        if result["reject_reasons"]:
            with st.expander(f"{result['rejected']} rejected", expanded=True):
                st.code("\n".join(result["reject_reasons"]), language=None)
    with st.expander("Recent imports and receiver batches"):
        st.dataframe(call_reads.recent_ingests(), hide_index=True, key="ingest_log")

st.subheader("Attribution rules")
st.caption(
    "Which attribute gives a call its feature, team, user, session, service and environment. A call "
    "takes each from its own span, else its nearest ancestor, else its resource; among rules, the "
    "lowest priority number wins. `json_field` reads a field inside a JSON-valued attribute."
)
with show_errors():
    edited = st.data_editor(
        call_reads.attribution_rules(),
        num_rows="dynamic",
        hide_index=True,
        key="ingest_rules",
        column_config=widgets.rule_columns(),
    )
    left, right = st.columns([1, 4])
    save = left.button("Save and re-apply", key="ingest_rules_save", type="primary")
    reset = right.button("Restore defaults", key="ingest_rules_reset")
    if save:
        saved = rules.save_attribution_rules(common.connection(), edited.to_dict("records"))
        updated = reextract_all(common.resources()["con"])
        widgets.rules_changed("ingest_rules", f"Saved {saved} rules; attribution re-applied to {updated:,} calls.")
    if reset:
        saved = rules.save_attribution_rules(common.connection(), rules.default_attribution_rules())
        updated = reextract_all(common.resources()["con"])
        widgets.rules_changed(
            "ingest_rules", f"Restored {saved} default rules; attribution re-applied to {updated:,} calls."
        )

st.subheader("Demo data")
with show_errors():
    n_calls, n_demo = call_reads.call_count(), call_reads.call_count(True)
    st.caption(
        f"{n_demo:,} of {n_calls:,} calls are demo traffic: ~90 days of several features, teams, "
        "models and instrumentation conventions, made with the OpenTelemetry SDK. Demo rows carry "
        "`llmledger.demo=true` and are labelled DEMO DATA wherever they show."
    )
    if widgets.demo_generate("ingest"):
        st.rerun()
    if widgets.demo_remove("ingest", n_demo) is not None:
        st.rerun()
