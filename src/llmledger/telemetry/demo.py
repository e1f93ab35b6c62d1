"""Demo data: ~90 days of realistic, clearly labelled LLM traffic made with the real OTel SDK.

Traffic is planned first (demo_plan.py: which traces and calls, what their messages say, their
tokens, times and cache reads), then emitted. Spans are created by `opentelemetry-sdk` tracers
(explicit start/end times over the past 90 days), collected by an in-memory exporter, encoded to
OTLP protobuf with the SDK's own encoder; the calls' messages go as GenAI log events
(demo_events.py) joined to their spans by (trace_id, span_id). Both are loaded through the real
import path (`otlp.decode_protobuf`/`logs.decode_protobuf_logs` + `loader.load`), or posted to
the receiver (`generate_requests`). Every resource carries `llmledger.demo=true`, so the loader
marks the rows `is_demo` and `loader.remove_demo` deletes them again. Services, features, teams
and users all start with "demo-".

The traffic mixes the conventions the mapping understands: OTel GenAI (current and deprecated
attribute names), OpenInference, OpenLLMetry/Traceloop, the Vercel AI SDK (wrapper plus
doGenerate) and LiteLLM (with its raw request twin). It has daily and weekly seasonality, growth,
a feature launched mid-way, a few error calls, ~5% of calls without usage, and one model no price
sheet knows. What it gives each what-if lever (sessions, repeats, shared prefixes, agent loops,
long prompts, a batch job) is listed in demo_plan.py.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Callable, Sequence

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmledger.telemetry import loader, logs, otlp
from llmledger.telemetry.demo_events import DemoEvents
from llmledger.telemetry.demo_plan import ERROR_RATE, FEATURES, MISSING_USAGE_RATE, Call, Feature, Planner, Unit
from llmledger.telemetry.loader import LoadResult
from llmledger.telemetry.rows import DEMO_ATTRIBUTE

Progress = Callable[[int, int, str], None]

DEFAULT_CALLS = 10_000  # with message text: about as long to load as 30,000 calls without
DEFAULT_DAYS = 90
DEMO_SOURCE = "demo"
__all__ = [
    "generate",
    "generate_batches",
    "generate_requests",
    "remove",
    "FEATURES",
    "Feature",
    "ERROR_RATE",
    "MISSING_USAGE_RATE",
]


class _SeededIds(IdGenerator):
    """Deterministic trace/span ids (same seed and day: replaying the demo adds nothing)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


class _Collector(SpanExporter):
    """A SpanExporter that keeps finished spans until taken."""

    def __init__(self):
        self.spans: list = []

    def export(self, spans: Sequence):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.spans = []

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def take(self) -> list:
        out, self.spans = self.spans, []
        return out


class _Generator:
    """Emits planned units as spans (through the SDK) and their messages as log events."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed + 3)
        self.ids = _SeededIds(random.Random(seed + 1))
        self.collector = _Collector()
        self._providers: dict[tuple[str, str], TracerProvider] = {}
        self._tracers: dict[tuple[str, str, str], object] = {}
        self.events = DemoEvents()  # message content as GenAI log events

    def tracer(self, service: str, env: str, language: str, scope: str, version: str = ""):
        key = (service, env, scope)
        if key not in self._tracers:
            pkey = (service, env)
            if pkey not in self._providers:
                resource = Resource.create(
                    {
                        "service.name": service,
                        "service.version": "1.4.2",
                        "deployment.environment.name": env,
                        "telemetry.sdk.language": language,
                        DEMO_ATTRIBUTE: True,
                    }
                )
                provider = TracerProvider(resource=resource, id_generator=self.ids, shutdown_on_exit=False)
                provider.add_span_processor(SimpleSpanProcessor(self.collector))
                self._providers[pkey] = provider
            self._tracers[key] = self._providers[pkey].get_tracer(scope, version)
        return self._tracers[key]

    def trace(self, u: Unit) -> None:
        getattr(self, f"_trace_{u.feat.style}")(u)

    def _messages(self, u: Unit, span, c: Call, scope: str) -> None:
        if c.messages is not None:
            sc = span.get_span_context()
            self.events.add_call(u.feat.service, u.env, scope, c, sc.trace_id, sc.span_id)

    @staticmethod
    def _end(span, end_ns: int, error: bool = False, message: str = "") -> None:
        if error:
            span.set_status(Status(StatusCode.ERROR, message or "429 Too Many Requests: rate limit exceeded"))
            span.set_attribute("error.type", "RateLimitError")
        span.end(end_time=end_ns)

    def _child_ctx(self, span):
        return trace_api.set_span_in_context(span)

    def _tool(self, tracer, ctx, c: Call, attrs: dict) -> None:
        if c.tool:
            tool = tracer.start_span(attrs.pop("_name"), context=ctx, start_time=c.tool[2], attributes=attrs)
            tool.end(end_time=c.tool[3])

    def _trace_openllmetry(self, u: Unit) -> None:
        feat = u.feat
        wf_tracer = self.tracer(feat.service, u.env, feat.language, "traceloop.tracer")
        llm_scope = "opentelemetry.instrumentation.openai.v1"
        llm_tracer = self.tracer(feat.service, u.env, feat.language, llm_scope, "0.47.3")
        props = {
            "traceloop.association.properties.feature": feat.name,
            "traceloop.association.properties.team": feat.team,
            "traceloop.association.properties.user_id": u.user,
            "traceloop.association.properties.session_id": u.session,
        }
        wf = wf_tracer.start_span(
            "support_agent.workflow",
            start_time=u.t0,
            attributes={
                "traceloop.span.kind": "workflow",
                "traceloop.workflow.name": "support_agent",
                "traceloop.entity.name": "support_agent",
                **props,
            },
        )
        ctx = self._child_ctx(wf)
        for c in u.calls:
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": c.model.provider,
                "gen_ai.request.model": c.model.name,
                "gen_ai.response.model": c.model.name,
                "gen_ai.request.temperature": 0.3,
                "traceloop.workflow.name": "support_agent",
                **props,
            }
            if not c.missing:
                attrs.update({"gen_ai.usage.input_tokens": c.inp, "gen_ai.usage.output_tokens": c.out})
                if c.cache_read:
                    attrs["gen_ai.usage.cache_read_input_tokens"] = c.cache_read
            span = llm_tracer.start_span(
                "openai.chat", context=ctx, kind=SpanKind.CLIENT, start_time=c.t, attributes=attrs
            )
            self._messages(u, span, c, llm_scope)
            self._end(span, c.end, c.error)
            self._tool(
                wf_tracer,
                ctx,
                c,
                {
                    "_name": "lookup_account.tool",
                    "traceloop.span.kind": "tool",
                    "traceloop.entity.name": "lookup_account",
                },
            )
        wf.end(end_time=u.end + 2_000_000)

    def _genai_attrs(self, c: Call, legacy: bool) -> dict:
        a = {
            "gen_ai.operation.name": c.operation,
            "gen_ai.request.model": c.model.name,
            "gen_ai.response.model": c.model.name,
        }
        if legacy:
            a["gen_ai.system"] = c.model.provider
            if not c.missing:
                a["gen_ai.usage.prompt_tokens"] = c.inp
                a["gen_ai.usage.completion_tokens"] = c.out
        else:
            a["gen_ai.provider.name"] = c.model.provider
            if not c.missing:
                a["gen_ai.usage.input_tokens"] = c.inp
                if c.operation != "embeddings":
                    a["gen_ai.usage.output_tokens"] = c.out
                if c.cache_read:
                    a["gen_ai.usage.cache_read.input_tokens"] = c.cache_read
                if c.cache_write:
                    a["gen_ai.usage.cache_creation.input_tokens"] = c.cache_write
                if c.reasoning:
                    a["gen_ai.usage.reasoning.output_tokens"] = c.reasoning
        return a

    def _trace_genai(self, u: Unit) -> None:
        """Current OTel GenAI names under an HTTP server span (the search API), or a notebook cell."""
        feat = u.feat
        http = self.tracer(feat.service, u.env, feat.language, "opentelemetry.instrumentation.fastapi", "0.48b0")
        scope = "opentelemetry.instrumentation.openai_v2"
        llm = self.tracer(feat.service, u.env, feat.language, scope, "2.3b0")
        route = u.extra.get("route", "/search")
        if feat.name:
            root_attrs = {
                "http.request.method": "POST",
                "http.route": route,
                "app.feature": feat.name,
                "app.team": feat.team,
            }
            name = f"POST {route}"
        else:
            root_attrs, name = {"notebook": "scratch.ipynb"}, "notebook cell"
        if u.user:
            root_attrs["user.id"] = u.user
        root = http.start_span(name, kind=SpanKind.SERVER, start_time=u.t0, attributes=root_attrs)
        ctx = self._child_ctx(root)
        for c in u.calls:
            span_name = f"embeddings {c.model.name}" if c.operation == "embeddings" else f"chat {c.model.name}"
            span = llm.start_span(
                span_name, context=ctx, kind=SpanKind.CLIENT, start_time=c.t, attributes=self._genai_attrs(c, False)
            )
            self._messages(u, span, c, scope)
            self._end(span, c.end, c.error)
        root.end(end_time=u.end + int(self.rng.uniform(2, 20) * 1e6))

    def _trace_genai_legacy(self, u: Unit) -> None:
        """Deprecated GenAI names (gen_ai.system, prompt/completion tokens) under a job span."""
        feat = u.feat
        scope = "opentelemetry.instrumentation.anthropic"
        tracer = self.tracer(feat.service, u.env, feat.language, scope, "0.33.0")
        first = len(u.calls[0].messages or []) <= 2 if u.calls else True
        attrs = {"app.feature": feat.name, "app.team": feat.team, "user.id": u.user, "session.id": u.session}
        attrs["document.id"] = f"demo-doc-{u.extra.get('doc', 0)}"
        job = tracer.start_span("summarize_document" if first else "ask_document", start_time=u.t0, attributes=attrs)
        ctx = self._child_ctx(job)
        for c in u.calls:
            span = tracer.start_span(
                f"chat {c.model.name}",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=c.t,
                attributes=self._genai_attrs(c, True),
            )
            self._messages(u, span, c, scope)
            self._end(span, c.end, c.error)
        job.end(end_time=u.end + 3_000_000)

    def _trace_genai_agent(self, u: Unit) -> None:
        """An agent: invoke_agent wrapper, chat turns and tool executions (current GenAI names)."""
        feat = u.feat
        scope = "demo.code_review_agent"
        tracer = self.tracer(feat.service, u.env, feat.language, scope, "0.9.0")
        agent = tracer.start_span(
            "invoke_agent code_reviewer",
            start_time=u.t0,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "code_reviewer",
                "app.feature": feat.name,
                "app.team": feat.team,
                "user.id": u.user,
                "session.id": u.session,
            },
        )
        ctx = self._child_ctx(agent)
        for c in u.calls:
            span = tracer.start_span(
                f"chat {c.model.name}",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=c.t,
                attributes=self._genai_attrs(c, False),
            )
            self._messages(u, span, c, scope)
            self._end(span, c.end, c.error)
            if c.tool:
                attrs = {
                    "_name": f"execute_tool {c.tool[0]}",
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": c.tool[0],
                    "gen_ai.tool.call.arguments": c.tool[1],
                }
                self._tool(tracer, ctx, c, attrs)
        agent.end(end_time=u.end + 1_000_000)

    def _trace_openinference(self, u: Unit) -> None:
        feat = u.feat
        scope = "openinference.instrumentation.llama_index"
        tracer = self.tracer(feat.service, u.env, feat.language, scope, "4.3.0")
        metadata = json.dumps({"feature": feat.name, "team": feat.team, "user_id": u.user})
        chain = tracer.start_span(
            "query",
            start_time=u.t0,
            attributes={
                "openinference.span.kind": "CHAIN",
                "metadata": metadata,
                "user.id": u.user,
                "input.value": u.extra.get("question", ""),
            },
        )
        ctx = self._child_ctx(chain)
        answer = u.calls[-1]
        ret = tracer.start_span(
            "retrieve",
            context=ctx,
            start_time=u.t0 + 2_000_000,
            attributes={"openinference.span.kind": "RETRIEVER", "metadata": metadata},
        )
        ret.end(end_time=max(u.t0 + 3_000_000, (u.calls[0].t if len(u.calls) == 1 else answer.t) - 1_000_000))
        for c in u.calls:
            vendor = "openai" if c.model.provider == "openai" else "anthropic"
            attrs = {
                "openinference.span.kind": "LLM",
                "llm.model_name": c.model.name,
                "llm.provider": vendor,
                "llm.system": vendor,
                "metadata": metadata,
                "llm.invocation_parameters": json.dumps({"model": c.model.name, "temperature": 0.1}),
            }
            if not c.missing:
                attrs.update(
                    {
                        "llm.token_count.prompt": c.inp,
                        "llm.token_count.completion": c.out,
                        "llm.token_count.total": c.inp + c.out,
                    }
                )
                if c.cache_read:
                    attrs["llm.token_count.prompt_details.cache_read"] = c.cache_read
            span = tracer.start_span(
                "ChatCompletion" if vendor == "openai" else "Messages", context=ctx, start_time=c.t, attributes=attrs
            )
            self._messages(u, span, c, scope)
            self._end(span, c.end, c.error)
        chain.end(end_time=u.end + 1_500_000)

    def _trace_vercel(self, u: Unit) -> None:
        feat = u.feat
        tracer = self.tracer(feat.service, u.env, feat.language, "ai", "5.0.26")
        c = u.calls[0]
        common = {
            "ai.model.provider": "google.generative-ai",
            "ai.model.id": c.model.name,
            "ai.telemetry.functionId": feat.name,
            "ai.telemetry.metadata.team": feat.team,
            "ai.telemetry.metadata.userId": u.user,
        }
        outer = dict(common, **{"operation.name": f"ai.generateText {feat.name}", "ai.operationId": "ai.generateText"})
        inner = dict(
            common,
            **{
                "operation.name": f"ai.generateText.doGenerate {feat.name}",
                "ai.operationId": "ai.generateText.doGenerate",
                "gen_ai.system": "gcp.gemini",
                "gen_ai.request.model": c.model.name,
                "gen_ai.response.model": c.model.name,
            },
        )
        if not c.missing:
            outer.update({"ai.usage.promptTokens": c.inp, "ai.usage.completionTokens": c.out})
            inner.update(
                {
                    "ai.usage.promptTokens": c.inp,
                    "ai.usage.completionTokens": c.out,
                    "gen_ai.usage.input_tokens": c.inp,
                    "gen_ai.usage.output_tokens": c.out,
                }
            )
            if c.cache_read:
                inner["ai.usage.cachedInputTokens"] = c.cache_read
        wrapper = tracer.start_span("ai.generateText", start_time=u.t0, attributes=outer)
        span = tracer.start_span(
            "ai.generateText.doGenerate",
            context=self._child_ctx(wrapper),
            kind=SpanKind.CLIENT,
            start_time=c.t,
            attributes=inner,
        )
        self._messages(u, span, c, "ai")
        self._end(span, c.end, c.error)
        self._end(wrapper, c.end + 1_000_000, c.error)

    def _trace_litellm(self, u: Unit) -> None:
        feat = u.feat
        job = self.tracer("demo-batch-jobs", u.env, feat.language, "demo.batch", "1.0")
        proxy = self.tracer(feat.service, u.env, feat.language, "litellm", "1.79.3")
        root = job.start_span(
            "enrich_leads batch",
            start_time=u.t0,
            attributes={"app.feature": feat.name, "app.team": feat.team, "batch.size": u.extra["batch_size"]},
        )
        ctx = self._child_ctx(root)
        for c in u.calls:
            system = {"openai": "openai", "anthropic": "anthropic", "gcp.gemini": "gemini"}[c.model.provider]
            attrs = {
                "gen_ai.framework": "litellm",
                "gen_ai.system": system,
                "gen_ai.operation.name": "acompletion",
                "llm.request.type": "acompletion",
                "gen_ai.request.model": c.model.name,
                "gen_ai.response.model": c.model.name,
                "litellm.model_group": "demo-pool",  # LiteLLM's model alias group: not a feature
                "metadata.feature": feat.name,  # request metadata, flattened by LiteLLM's callback
                "metadata.user_api_key_team_id": feat.team,
                "metadata.user_api_key_alias": "demo-enrichment-job",
            }
            if not c.missing:
                attrs.update(
                    {
                        "gen_ai.usage.input_tokens": c.inp,
                        "gen_ai.usage.output_tokens": c.out,
                        "gen_ai.usage.total_tokens": c.inp + c.out,
                    }
                )
            span = proxy.start_span(
                "litellm_request", context=ctx, kind=SpanKind.SERVER, start_time=c.t, attributes=attrs
            )
            raw = proxy.start_span(
                "raw_gen_ai_request",
                context=self._child_ctx(span),
                kind=SpanKind.CLIENT,
                start_time=c.t + 2_000_000,
                attributes={f"llm.{system}.model": c.model.name, f"llm.{system}.stream": False},
            )
            raw.end(end_time=max(c.t + 2_000_001, c.end - 1_000_000))
            self._messages(u, span, c, "litellm")
            self._end(span, c.end, c.error)
        root.end(end_time=u.end + 5_000_000)

    def take_encoded(self) -> bytes:
        return encode_spans(self.collector.take()).SerializeToString()


def generate_batches(
    n_calls: int = DEFAULT_CALLS,
    days: int = DEFAULT_DAYS,
    seed: int = 7,
    now: datetime | None = None,
    traces_per_batch: int = 1500,
):
    """Yield (batch number, batch count, OTLP protobuf bytes) of demo traffic (spans only)."""
    for b, total, body, _ in _batches(n_calls, days, seed, now, traces_per_batch):
        yield b, total, body


def generate_requests(
    n_calls: int = DEFAULT_CALLS,
    days: int = DEFAULT_DAYS,
    seed: int = 7,
    now: datetime | None = None,
    traces_per_batch: int = 1500,
):
    """Yield (batch number, batch count, OTLP trace request, OTLP logs request or None): the bodies
    an SDK would POST to /v1/traces and /v1/logs."""
    yield from _batches(n_calls, days, seed, now, traces_per_batch)


def _batches(n_calls: int, days: int, seed: int, now: datetime | None, traces_per_batch: int = 1500):
    """(batch number, batch count, OTLP trace request, OTLP logs request of its GenAI events or None)."""
    now = now or datetime.now(UTC)
    units = Planner(seed, now, days).plan(n_calls)
    gen = _Generator(seed)
    total = max(1, math.ceil(len(units) / traces_per_batch))
    for b in range(total):
        for u in units[b * traces_per_batch : (b + 1) * traces_per_batch]:
            gen.trace(u)
        yield b, total, gen.take_encoded(), gen.events.take_encoded()


def generate(
    con,
    n_calls: int = DEFAULT_CALLS,
    days: int = DEFAULT_DAYS,
    seed: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> LoadResult:
    """Generate demo traffic and load it through the real OTLP import path; returns the totals.

    Ids depend on the seed and the day, so generating twice on one day adds nothing new.
    """
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    total = LoadResult()
    for b, count, body, events in _batches(n_calls, days, seed, now):
        if progress:
            progress(b, count, f"Loading demo batch {b + 1} of {count}")
        decoded = otlp.decode_protobuf(body)
        batch_id = f"demo-{seed}-{now:%Y%m%d%H}-{n_calls}-{days}-{b}"
        total.add(loader.load(con, decoded, batch_id=batch_id, source=DEMO_SOURCE))
        if events:  # the batch's message content, as the instrumentation sends it: log events
            decoded = logs.decode_protobuf_logs(events)
            total.add(loader.load(con, decoded, batch_id=batch_id + "-events", source=DEMO_SOURCE))
    if progress:
        progress(count, count, f"Loaded {total.calls_new:,} demo calls")
    return total


def remove(con) -> int:
    """Remove every demo row; returns the number of calls removed."""
    return loader.remove_demo(con)
