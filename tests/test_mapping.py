"""Convention mapping, one convention at a time, on real spans: built with the OpenTelemetry SDK,
exported in memory, encoded to OTLP protobuf and decoded by our own decoder."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmledger.telemetry import loader, otlp
from llmledger.telemetry.conventions import map_span


class Recorder:
    """A real TracerProvider whose finished spans come back through OTLP protobuf."""

    def __init__(self, service: str = "svc"):
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def tracer(self, scope: str = "test", version: str = ""):
        return self.provider.get_tracer(scope, version)

    def spans(self) -> list[otlp.Span]:
        body = encode_spans(self.exporter.get_finished_spans()).SerializeToString()
        decoded = otlp.decode_protobuf(body)
        assert decoded.rejects == []
        return decoded.spans


def one(attrs: dict, name: str = "span", scope: str = "test", version: str = "", error=False, events=()):
    rec = Recorder()
    with rec.tracer(scope, version).start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs) as s:
        for ev_name, ev_attrs in events:
            s.add_event(ev_name, ev_attrs)
        if error:
            s.set_status(Status(StatusCode.ERROR, "boom"))
    (span,) = rec.spans()
    return map_span(span)


# ---------------------------------------------------------------- OTel GenAI


def test_otel_genai_current_names():
    c = one(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 200,
            "gen_ai.usage.reasoning.output_tokens": 120,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}]),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}]}]
            ),
        }
    )
    assert (c.convention, c.provider, c.operation) == ("otel_genai", "anthropic", "chat")
    assert (c.request_model, c.response_model) == ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929")
    # input (1500) already includes the 1200 cached tokens: kept as is
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens) == (
        1500,
        300,
        1000,
        200,
        120,
    )
    assert (c.usage_source, c.status) == ("reported", "ok")
    assert c.input_text == "Be brief.\nHi there" and c.output_text == "Hello!"


def test_otel_genai_deprecated_names():
    c = one(
        {
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-2.0-flash",
            "gen_ai.usage.prompt_tokens": 40,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.usage.cache_read_input_tokens": 10,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "first",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "second",
            "gen_ai.completion.0.content": "answer",
        }
    )
    assert (c.provider, c.operation) == ("gcp.vertex_ai", "chat")
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens) == (40, 7, 10)
    assert (c.input_text, c.output_text) == ("first\nsecond", "answer")


def test_inclusive_check_repairs_exclusive_anthropic_counts():
    # 20 cannot include 1000 cached tokens: the source passed Anthropic's own count through.
    c = one(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.usage.cache_read_input_tokens": 1000,
            "gen_ai.usage.cache_creation_input_tokens": 30,
        }
    )
    assert (c.input_tokens, c.cache_read_tokens, c.cache_write_tokens) == (1050, 1000, 30)


def test_content_in_span_events():
    c = one(
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "ping"}])}),
            ("gen_ai.content.completion", {"gen_ai.completion": "pong"}),
        ],
    )
    assert (c.input_text, c.output_text) == ("ping", "pong")


def test_missing_usage_is_null_not_zero():
    c = one({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"})
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens, c.reasoning_tokens) == (None,) * 4
    assert c.usage_source == "missing"


def test_errors_from_status_or_error_type():
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    assert one(base, error=True).status == "error"
    assert one({**base, "error.type": "RateLimitError"}).status == "error"
    assert one(base).status == "ok"


def test_embeddings():
    c = one(
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 9,
        }
    )
    assert (c.operation, c.input_tokens, c.output_tokens) == ("embeddings", 9, None)
    oi = one(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-large",
            "llm.token_count.prompt": 12,
            "embedding.embeddings.0.embedding.text": "hello",
        }
    )
    assert (oi.convention, oi.operation, oi.request_model, oi.input_tokens, oi.input_text) == (
        "openinference",
        "embeddings",
        "text-embedding-3-large",
        12,
        "hello",
    )


@pytest.mark.parametrize(
    "attrs,name",
    [
        ({"traceloop.span.kind": "workflow", "traceloop.workflow.name": "triage"}, "triage.workflow"),
        ({"traceloop.span.kind": "task", "gen_ai.request.model": "gpt-4o"}, "step.task"),
        ({"openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o"}, "chain"),
        ({"openinference.span.kind": "AGENT"}, "agent"),
        ({"openinference.span.kind": "TOOL", "tool.name": "search"}, "tool"),
        (
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 300,
            },
            "invoke_agent helper",
        ),
        ({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}, "execute_tool search"),
        (
            {
                "http.request.method": "POST",
                "url.full": "https://api.openai.com/v1/chat/completions",
                "http.response.status_code": 200,
            },
            "POST",
        ),
        (
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5},
            "raw_gen_ai_request",
        ),
        (
            {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 10},
            "ai.generateText",
        ),
        ({"model_name": "gpt-4o", "gen_ai.usage.input_tokens": 62, "gen_ai.usage.output_tokens": 9}, "agent run"),
        ({"langfuse.observation.type": "span", "gen_ai.request.model": "gpt-4o"}, "step"),
    ],
)
def test_wrappers_are_not_calls(attrs, name):
    assert one(attrs, name=name) is None


# ---------------------------------------------------------------- dialects


def test_openllmetry_legacy_llm_usage():
    c = one(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-3.5-turbo",
            "llm.usage.prompt_tokens": 11,
            "llm.usage.completion_tokens": 4,
            "llm.usage.total_tokens": 15,
        },
        name="openai.chat",
        scope="opentelemetry.instrumentation.openai.v1",
    )
    assert (c.convention, c.provider, c.operation, c.input_tokens, c.output_tokens) == (
        "openllmetry",
        "openai",
        "chat",
        11,
        4,
    )


def test_openlit_anthropic_cost_and_exclusive_cache():
    c = one(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "claude-3-5-sonnet-latest",
            "gen_ai.response.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.input_tokens": 1500,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.cache_read_input_tokens": 800,
            "gen_ai.usage.cost": 0.0123,
            "gen_ai.environment": "prod",
            "gen_ai.application_name": "bot",
        },
        scope="openlit.otel.tracing",
    )
    # OpenLIT passes Anthropic's input_tokens through: they exclude the cache read, so add it.
    assert (c.convention, c.input_tokens, c.cache_read_tokens) == ("openlit", 2300, 800)
    assert c.reported_cost_usd == Decimal("0.0123")


def test_openinference_llm_request_vs_response_model_and_cache():
    c = one(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "anthropic",
            "llm.system": "anthropic",
            "llm.model_name": "claude-3-7-sonnet-20250219",
            "llm.invocation_parameters": json.dumps({"model": "claude-3-7-sonnet-latest", "max_tokens": 99}),
            "llm.token_count.prompt": 900,
            "llm.token_count.completion": 50,
            "llm.token_count.prompt_details.cache_read": 600,
            "llm.token_count.prompt_details.cache_write": 100,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "a",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.contents.0.message_content.text": "b",
            "llm.output_messages.0.message.content": "c",
            "llm.cost.total": 0.002,
        }
    )
    assert (c.request_model, c.response_model) == ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219")
    assert (c.input_tokens, c.cache_read_tokens, c.cache_write_tokens) == (900, 600, 100)
    assert (c.input_text, c.output_text, c.reported_cost_usd) == ("a\nb", "c", Decimal("0.002"))


@pytest.mark.parametrize("version,reported", [("4.3.16", 30), ("5.0.26", 30), ("6.0.1", 1230)])
def test_vercel_anthropic_cache_by_sdk_version(version, reported):
    """AI SDK < 6 reports Anthropic's input without cache; 6 made inputTokens include it."""
    attrs = {
        "ai.operationId": "ai.streamText.doStream",
        "ai.model.provider": "anthropic.messages",
        "ai.model.id": "claude-sonnet-4-0",
        "ai.usage.outputTokens": 8,
        "ai.response.providerMetadata": json.dumps(
            {"anthropic": {"cacheReadInputTokens": 1000, "cacheCreationInputTokens": 200}}
        ),
    }
    attrs["ai.usage.inputTokens" if version >= "5" else "ai.usage.promptTokens"] = reported
    c = one(attrs, name="ai.streamText.doStream", scope="ai", version=version)
    assert (c.convention, c.provider, c.operation) == ("vercel_ai", "anthropic", "chat")
    # 30 uncached + 1000 read + 200 written, whichever way the SDK version counted it
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens) == (1230, 8, 1000, 200)


def test_vercel_embed_many():
    c = one(
        {
            "ai.operationId": "ai.embedMany.doEmbed",
            "ai.model.provider": "openai.embedding",
            "ai.model.id": "text-embedding-3-small",
            "ai.usage.tokens": 21,
            "ai.values": ["x", "y"],
        },
        name="ai.embedMany.doEmbed",
        scope="ai",
    )
    assert (c.operation, c.input_tokens, c.output_tokens, c.input_text) == ("embeddings", 21, None, "x\ny")


def test_langfuse_generation_usage_details_exclude_cache():
    c = one(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "gpt-4o",
            "langfuse.observation.usage_details": json.dumps(
                {"input": 100, "input_cached_tokens": 400, "output": 20, "output_reasoning_tokens": 5}
            ),
            "langfuse.observation.cost_details": json.dumps({"input": 0.001, "output": 0.0002, "total": 0.0012}),
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "q"}]),
            "langfuse.user.id": "u-1",
        }
    )
    # Langfuse's `input` and `output` exclude the parts listed beside them.
    assert (c.convention, c.request_model, c.input_tokens, c.cache_read_tokens) == ("langfuse", "gpt-4o", 500, 400)
    assert (c.output_tokens, c.reasoning_tokens, c.reported_cost_usd) == (25, 5, Decimal("0.0012"))
    assert c.input_text == "q"


def test_langfuse_anthropic_style_usage():
    c = one(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": "claude-3-haiku",
            "langfuse.observation.usage_details": json.dumps(
                {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 90}
            ),
        }
    )
    assert (c.input_tokens, c.output_tokens, c.cache_read_tokens) == (100, 3, 90)


def test_provider_names_normalised():
    def prov(v):
        return one({"gen_ai.system": v, "gen_ai.request.model": "m"}).provider

    assert [
        prov(v)
        for v in (
            "Bedrock",
            "aws.bedrock",
            "vertex_ai",
            "OpenAI",
            "az.ai.openai",
            "mistralai",
            "google.generative-ai",
            "ollama",
        )
    ] == [
        "aws.bedrock",
        "aws.bedrock",
        "gcp.vertex_ai",
        "openai",
        "azure.ai.openai",
        "mistral_ai",
        "gcp.gemini",
        "ollama",
    ]


def test_text_is_capped():
    c = one({"gen_ai.request.model": "m", "gen_ai.prompt.0.content": "x" * 200_000})
    assert len(c.input_text) == 64 * 1024


# ---------------------------------------------------------------- through the loader


def _load(con, spans, batch):
    return loader.load(con, otlp.Decoded(spans, []), batch_id=batch, source="test")


def _stacked_trace(child_attrs: dict, parent_attrs: dict) -> list[otlp.Span]:
    """agent -> framework LLM span -> (an intermediate span) -> provider SDK span."""
    rec = Recorder()
    t = rec.tracer("openinference.instrumentation.langchain")
    with t.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}):
        with t.start_as_current_span("ChatOpenAI", attributes=parent_attrs):
            with t.start_as_current_span("retry-wrapper"):
                with rec.tracer("opentelemetry.instrumentation.openai_v2").start_as_current_span(
                    "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=child_attrs
                ):
                    pass
    return rec.spans()


OI_PARENT = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini",
    "llm.provider": "openai",
    "llm.token_count.prompt": 50,
    "llm.token_count.completion": 10,
}
GENAI_CHILD = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 50,
    "gen_ai.usage.output_tokens": 10,
}


@pytest.mark.parametrize("order", ["together", "parent_first", "child_first"])
def test_nested_duplicate_removed_in_any_arrival_order(con, order):
    spans = _stacked_trace(GENAI_CHILD, OI_PARENT)
    child = [s for s in spans if s.name == "chat gpt-4o-mini"]
    rest = [s for s in spans if s.name != "chat gpt-4o-mini"]
    if order == "together":
        batches = [spans]
    elif order == "parent_first":
        batches = [rest, child]
    else:
        batches = [child, rest]
    added = sum(_load(con, b, f"b{i}").calls_new for i, b in enumerate(batches))
    rows = con.execute("SELECT convention, input_tokens, output_tokens FROM llm_calls").fetchall()
    # The provider SDK's span (closest to the wire) is the one kept.
    assert rows == [("otel_genai", 50, 10)]
    assert added == 1


def test_usage_less_framework_span_wrapping_a_call_is_dropped(con):
    parent = {k: v for k, v in OI_PARENT.items() if not k.startswith("llm.token_count")}
    _load(con, _stacked_trace(GENAI_CHILD, parent), "b")
    assert con.execute("SELECT convention FROM llm_calls").fetchall() == [("otel_genai",)]


def test_usage_less_inner_twin_gives_way_to_outer_call_with_usage(con):
    child = {k: v for k, v in GENAI_CHILD.items() if not k.startswith("gen_ai.usage")}
    _load(con, _stacked_trace(child, OI_PARENT), "b")
    assert con.execute("SELECT convention, input_tokens FROM llm_calls").fetchall() == [("openinference", 50)]


def test_nested_calls_with_different_usage_are_both_kept(con):
    child = {**GENAI_CHILD, "gen_ai.usage.input_tokens": 7}
    _load(con, _stacked_trace(child, OI_PARENT), "b")
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 2


def test_two_identical_sibling_calls_are_both_kept(con):
    rec = Recorder()
    t = rec.tracer("opentelemetry.instrumentation.openai_v2")
    with t.start_as_current_span("agent", attributes={"gen_ai.operation.name": "invoke_agent"}):
        for _ in range(2):
            with t.start_as_current_span("chat", kind=SpanKind.CLIENT, attributes=GENAI_CHILD):
                pass
    res = _load(con, rec.spans(), "b")
    assert res.calls_new == 2
    assert con.execute("SELECT sum(input_tokens) FROM llm_calls").fetchone()[0] == 100


def test_litellm_request_and_raw_twin_make_one_call(con):
    rec = Recorder(service="proxy")
    t = rec.tracer("litellm")
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "llm.request.type": "acompletion",
        "gen_ai.usage.prompt_tokens": 30,
        "gen_ai.usage.completion_tokens": 3,
        "metadata.user_api_key_team_id": "team-a",
        "metadata.user_api_key_user_id": "alice",
    }
    with t.start_as_current_span("litellm_request", attributes=attrs):
        with t.start_as_current_span(
            "raw_gen_ai_request",
            attributes={"llm.openai.messages": "[]", "gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai"},
        ):
            pass
    assert _load(con, rec.spans(), "b").calls_new == 1
    assert con.execute("SELECT convention, operation, team, user_id, service FROM llm_calls").fetchall() == [
        ("litellm", "chat", "team-a", "alice", "proxy")
    ]
