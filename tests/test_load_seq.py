"""Load numbers (m007_load_seq): a load reads only the rows of its traces stamped at or after
their first load, so its per-trace work does not grow with the ledger. These tests check that
nothing a load must see is skipped: traces spread over distant loads, ledgers from before the
migration (rows stamped 0), rules re-extracted, demo data removed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmledger.telemetry import loader, otlp

OTLP = Path(__file__).parent / "data" / "otlp"

GENAI_CHILD = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 50,
    "gen_ai.usage.output_tokens": 10,
}
OI_PARENT = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini",
    "llm.provider": "openai",
    "llm.token_count.prompt": 50,
    "llm.token_count.completion": 10,
}


def _trace(feature: str, service: str = "svc") -> list[otlp.Span]:
    """root (carries the feature) -> framework LLM span -> provider SDK span: one call, two
    instrumentations, through the real SDK and OTLP protobuf."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("openinference.instrumentation.langchain")
    with t.start_as_current_span(
        "agent", attributes={"openinference.span.kind": "AGENT", "app.feature": feature, "user.id": f"u-{feature}"}
    ):
        with t.start_as_current_span("ChatOpenAI", attributes=OI_PARENT):
            with provider.get_tracer("opentelemetry.instrumentation.openai_v2").start_as_current_span(
                "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=GENAI_CHILD
            ):
                pass
    decoded = otlp.decode_protobuf(encode_spans(exporter.get_finished_spans()).SerializeToString())
    assert decoded.rejects == []
    return decoded.spans


def _load(con, spans, batch):
    return loader.load(con, otlp.Decoded(spans, []), batch_id=batch, source="test")


def _as_before_the_migration(con) -> None:
    """What m007 leaves in a ledger written before it: every row and every trace stamped 0."""
    for table in ("spans", "calls", "attribution_dims"):
        con.execute(f"UPDATE {table} SET load_seq = 0")
    con.execute("UPDATE trace_seqs SET first_seq = 0")


def _invariant_breaches(con) -> list:
    """Rows stamped before their trace's first load number: a load would skip them."""
    return con.execute("""
        WITH first AS (SELECT trace_id, min(first_seq) AS f FROM trace_seqs GROUP BY trace_id)
        SELECT 'spans', s.trace_id FROM spans s LEFT JOIN first USING (trace_id) WHERE f IS NULL OR s.load_seq < f
        UNION ALL
        SELECT 'calls', c.trace_id FROM calls c LEFT JOIN first USING (trace_id) WHERE f IS NULL OR c.load_seq < f
        UNION ALL
        SELECT 'dims', d.trace_id FROM attribution_dims d LEFT JOIN first USING (trace_id)
        WHERE f IS NULL OR d.load_seq < f""").fetchall()


@pytest.mark.parametrize("ledger", ["fresh", "from_before_the_migration"])
def test_a_trace_spread_over_distant_loads_is_resolved_whole(con, ledger):
    target = _trace("support_triage")
    call = [s for s in target if s.name == "chat gpt-4o-mini"]
    rest = [s for s in target if s.name != "chat gpt-4o-mini"]
    # The provider SDK's span first (spans end, and are exported, before their parents).
    assert _load(con, call, "first").calls_new == 1
    if ledger == "from_before_the_migration":
        _as_before_the_migration(con)
    # Unrelated traffic in between: the target trace's rows are now in older loads.
    for i in range(3):
        _load(con, _trace(f"other_{i}", service="elsewhere"), f"between{i}")
    seq_before = con.execute("SELECT max(load_seq) FROM spans").fetchone()[0]
    _load(con, rest, "last")
    tid = call[0].trace_id
    rows = con.execute(
        "SELECT convention, feature, user_id, input_tokens, output_tokens FROM llm_calls WHERE trace_id = ?", [tid]
    ).fetchall()
    # One call (the framework's twin of the SDK span is dropped, which needs the first load's
    # call), attributed from the root that arrived three loads later.
    assert rows == [("otel_genai", "support_triage", "u-support_triage", 50, 10)]
    assert con.execute("SELECT max(load_seq) FROM spans").fetchone()[0] > seq_before
    others = con.execute(
        "SELECT feature, count(*) FROM llm_calls WHERE trace_id <> ? GROUP BY 1 ORDER BY 1", [tid]
    ).fetchall()
    assert others == [("other_0", 1), ("other_1", 1), ("other_2", 1)]
    assert _invariant_breaches(con) == []


def test_rows_keep_their_load_numbers_through_rules_and_demo_removal(con):
    from llmledger.telemetry.attribution import reextract_all
    from llmledger.telemetry.ingest import ingest_paths

    r = ingest_paths(con, [OTLP])
    assert r.spans_new > 0 and r.calls_new > 0
    _load(con, _trace("a"), "a")
    n_traces = con.execute("SELECT count(DISTINCT trace_id) FROM spans").fetchone()[0]
    assert con.execute("SELECT count(DISTINCT trace_id) FROM trace_seqs").fetchone()[0] == n_traces
    assert con.execute("SELECT count(*) FROM spans WHERE load_seq IS NULL OR load_seq < 1").fetchone()[0] == 0
    assert _invariant_breaches(con) == []

    reextract_all(con)  # deletes and rewrites attribution_dims
    assert (
        con.execute("SELECT count(*) FROM attribution_dims WHERE load_seq IS NULL OR load_seq < 1").fetchone()[0] == 0
    )
    assert _invariant_breaches(con) == []
    # A later part of an earlier trace still finds the re-extracted values.
    late = _trace("late")
    call = [s for s in late if s.name == "chat gpt-4o-mini"]
    _load(con, call, "late-call")
    reextract_all(con)
    _load(con, [s for s in late if s.name != "chat gpt-4o-mini"], "late-rest")
    assert con.execute("SELECT feature FROM llm_calls WHERE trace_id = ?", [call[0].trace_id]).fetchall() == [("late",)]

    for table in ("spans", "calls"):  # as demo data is stored
        con.execute(f"UPDATE {table} SET is_demo = true WHERE trace_id = ?", [call[0].trace_id])
    loader.remove_demo(con)
    assert con.execute("SELECT count(*) FROM trace_seqs WHERE trace_id = ?", [call[0].trace_id]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM calls WHERE trace_id = ?", [call[0].trace_id]).fetchone()[0] == 0
    assert _invariant_breaches(con) == []
