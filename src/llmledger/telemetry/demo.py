"""Demo data: ~90 days of realistic, clearly labelled LLM traffic made with the real OTel SDK.

Spans are created by `opentelemetry-sdk` tracers (explicit start/end times over the past 90
days), collected by an in-memory exporter, encoded to OTLP protobuf with the SDK's own encoder,
and loaded through the real import path (`otlp.decode_protobuf` + `loader.load`). Every resource
carries `llmledger.demo=true`, so the loader marks the rows `is_demo` and `loader.remove_demo`
deletes them again. Services, features, teams and users all start with "demo-".

The traffic mixes the conventions the mapping understands: OTel GenAI (current and deprecated
attribute names), OpenInference, OpenLLMetry/Traceloop, the Vercel AI SDK (wrapper plus
doGenerate) and LiteLLM (with its raw request twin). It has daily and weekly seasonality, growth,
a feature launched mid-way, a few error calls, ~5% of calls without usage, and one model no price
sheet knows.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from llmledger.telemetry.loader import LoadResult
from llmledger.telemetry.rows import DEMO_ATTRIBUTE

Progress = Callable[[int, int, str], None]

DEFAULT_CALLS = 30_000
DEFAULT_DAYS = 90
DEMO_SOURCE = "demo"
MISSING_USAGE_RATE = 0.04  # plus error calls, which report no usage either: ~5% in all
ERROR_RATE = 0.012


@dataclass(frozen=True)
class Model:
    name: str
    provider: str  # OTel GenAI provider name
    weight: float
    ms_per_token: float  # output speed
    ttft_ms: float


@dataclass(frozen=True)
class Feature:
    name: str
    team: str
    service: str
    language: str
    style: str  # which convention emits it
    share: float  # of calls
    models: tuple[Model, ...]
    input_median: float
    output_median: float
    calls_per_trace: tuple[int, int]
    hours: str = "office"  # 'office' | 'night' | 'flat'
    launch_day: int = 0  # days after the window starts
    embeddings: bool = False


GPT4O = Model("gpt-4o", "openai", 1, 11, 450)
GPT4O_MINI = Model("gpt-4o-mini", "openai", 1, 7, 320)
GPT41_MINI = Model("gpt-4.1-mini", "openai", 1, 8, 350)
O3_MINI = Model("o3-mini", "openai", 1, 9, 1400)
SONNET4 = Model("claude-sonnet-4-20250514", "anthropic", 1, 14, 700)
SONNET35 = Model("claude-3-5-sonnet-20241022", "anthropic", 1, 13, 650)
HAIKU35 = Model("claude-3-5-haiku-20241022", "anthropic", 1, 8, 420)
FLASH20 = Model("gemini-2.0-flash", "gcp.gemini", 1, 5, 300)
FLASH25 = Model("gemini-2.5-flash", "gcp.gemini", 1, 6, 380)
PRO15 = Model("gemini-1.5-pro", "gcp.gemini", 1, 12, 800)
# No price sheet knows this one: the Calls page lists it under "unknown model".
FINETUNE = Model("demo-acme-llama-3.1-8b-ft", "openai", 1, 6, 250)


def _w(model: Model, weight: float) -> Model:
    return Model(model.name, model.provider, weight, model.ms_per_token, model.ttft_ms)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "demo-support-chat",
        "demo-team-support",
        "demo-support-bot",
        "python",
        "openllmetry",
        0.26,
        (_w(GPT4O_MINI, 0.62), _w(GPT4O, 0.33), _w(FINETUNE, 0.05)),
        1800,
        220,
        (1, 3),
    ),
    Feature(
        "demo-semantic-search",
        "demo-team-search",
        "demo-search-api",
        "python",
        "genai",
        0.18,
        (_w(GPT41_MINI, 1.0),),
        700,
        120,
        (1, 1),
        embeddings=True,
    ),
    Feature(
        "demo-doc-summary",
        "demo-team-docs",
        "demo-doc-summarizer",
        "python",
        "genai_legacy",
        0.12,
        (_w(HAIKU35, 0.7), _w(SONNET4, 0.3)),
        6000,
        450,
        (1, 2),
    ),
    Feature(
        "demo-rag-answers",
        "demo-team-search",
        "demo-rag-assistant",
        "python",
        "openinference",
        0.14,
        (_w(GPT4O, 0.55), _w(SONNET35, 0.45)),
        3500,
        350,
        (1, 2),
    ),
    Feature(
        "demo-ticket-triage",
        "demo-team-support",
        "demo-ticket-triage",
        "nodejs",
        "vercel",
        0.12,
        (_w(FLASH20, 0.7), _w(FLASH25, 0.3)),
        900,
        60,
        (1, 1),
    ),
    Feature(
        "demo-lead-enrichment",
        "demo-team-growth",
        "demo-llm-gateway",
        "python",
        "litellm",
        0.10,
        (_w(GPT4O_MINI, 0.5), _w(HAIKU35, 0.3), _w(PRO15, 0.2)),
        1200,
        300,
        (1, 2),
        hours="night",
    ),
    Feature(
        "demo-code-review",
        "demo-team-platform",
        "demo-dev-tools",
        "python",
        "genai_agent",
        0.06,
        (_w(O3_MINI, 0.5), _w(SONNET4, 0.5)),
        8000,
        900,
        (2, 4),
        launch_day=35,
    ),
    # No feature attributes anywhere in these traces: shows up as "(unattributed)".
    Feature(
        "",
        "",
        "demo-notebooks",
        "python",
        "genai",
        0.02,
        (_w(GPT4O, 0.6), _w(FLASH25, 0.4)),
        2500,
        500,
        (1, 1),
        hours="flat",
    ),
)

ENVIRONMENTS = (("production", 0.86), ("staging", 0.11), ("development", 0.03))

_OFFICE = [
    0.15,
    0.1,
    0.08,
    0.08,
    0.1,
    0.2,
    0.4,
    0.7,
    1.0,
    1.2,
    1.3,
    1.3,
    1.2,
    1.3,
    1.4,
    1.4,
    1.3,
    1.1,
    0.9,
    0.7,
    0.5,
    0.4,
    0.3,
    0.2,
]
_NIGHT = [1.2, 1.6, 1.6, 1.4, 1.0, 0.4] + [0.05] * 17 + [0.6]
HOURLY = {"office": _OFFICE, "night": _NIGHT, "flat": [1.0] * 24}
WEEKDAY = {"office": [1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.3], "night": [1.0] * 7, "flat": [1.0] * 7}


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


def _lognormal(rng: random.Random, median: float, sigma: float = 0.55) -> int:
    return max(1, int(rng.lognormvariate(math.log(median), sigma)))


def _pick(rng: random.Random, items: Sequence, weights: Sequence[float]):
    return rng.choices(items, weights)[0]


class _Generator:
    def __init__(self, seed: int, now: datetime, days: int):
        self.rng = random.Random(seed)
        self.ids = _SeededIds(random.Random(seed + 1))
        self.now = now
        self.days = days
        self.collector = _Collector()
        self._providers: dict[tuple[str, str], TracerProvider] = {}
        self._tracers: dict[tuple[str, str, str], object] = {}
        self.events = DemoEvents(random.Random(seed + 2))  # message content as GenAI log events
        self.users = [f"demo-user-{i:03d}" for i in range(1, 241)]
        self.user_weights = [1 / (i**0.9) for i in range(1, 241)]  # a few heavy users

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

    # ------------------------------------------------------------ plan

    def plan(self, n_calls: int) -> list[tuple[int, Feature]]:
        """(start ns, feature) per trace, shaped by growth, weekly and daily seasonality."""
        rng = self.rng
        start_day = (self.now - timedelta(days=self.days)).replace(hour=0, minute=0, second=0, microsecond=0)
        traces: list[tuple[int, Feature]] = []
        for feat in FEATURES:
            per_trace = sum(feat.calls_per_trace) / 2 + (1 if feat.embeddings else 0)
            n_traces = max(1, round(n_calls * feat.share / per_trace))
            launch = min(feat.launch_day, self.days // 3)  # short windows still see every feature
            live_days = range(launch, self.days)
            # Day weights: +70% growth across the window, a weekly shape, and a ramp after launch.
            day_w = []
            for d in live_days:
                day = start_day + timedelta(days=d)
                ramp = min(1.0, (d - launch + 1) / 10) if launch else 1.0
                day_w.append((0.8 + 0.7 * d / self.days) * WEEKDAY[feat.hours][day.weekday()] * ramp)
            hours = HOURLY[feat.hours]
            days_pick = rng.choices(list(live_days), day_w, k=n_traces)
            hours_pick = rng.choices(range(24), hours, k=n_traces)
            for d, h in zip(days_pick, hours_pick):
                t = start_day + timedelta(days=d, hours=h, seconds=rng.random() * 3600)
                if t < self.now - timedelta(minutes=5):
                    traces.append((int(t.timestamp() * 1e9), feat))
        rng.shuffle(traces)
        return traces

    # ------------------------------------------------------------ one call's numbers

    def call_numbers(self, feat: Feature, model: Model) -> dict:
        rng = self.rng
        inp = _lognormal(rng, feat.input_median)
        out = _lognormal(rng, feat.output_median, 0.7)
        dur = (model.ttft_ms + out * model.ms_per_token) * rng.lognormvariate(0, 0.25)
        error = rng.random() < ERROR_RATE
        missing = error or rng.random() < MISSING_USAGE_RATE
        if error:
            dur = rng.uniform(80, 2500)
        cache_read = int(inp * rng.uniform(0.3, 0.8)) if inp > 1024 and rng.random() < 0.35 else 0
        reasoning = int(out * rng.uniform(0.5, 2.5)) if model.name.startswith("o3") else 0
        return {
            "in": inp,
            "out": out + reasoning,
            "dur_ns": int(dur * 1e6),
            "error": error,
            "missing": missing,
            "cache_read": cache_read,
            "reasoning": reasoning,
        }

    def env(self) -> str:
        return _pick(self.rng, [e for e, _ in ENVIRONMENTS], [w for _, w in ENVIRONMENTS])

    def user(self) -> str:
        return _pick(self.rng, self.users, self.user_weights)

    # ------------------------------------------------------------ traces per convention

    def trace(self, start_ns: int, feat: Feature) -> None:
        getattr(self, f"_trace_{feat.style}")(start_ns, feat)

    def _calls(self, feat: Feature):
        lo, hi = feat.calls_per_trace
        n = self.rng.randint(lo, hi)
        return [_pick(self.rng, feat.models, [m.weight for m in feat.models]) for _ in range(n)]

    @staticmethod
    def _end(span, end_ns: int, error: bool = False, message: str = "") -> None:
        if error:
            span.set_status(Status(StatusCode.ERROR, message or "429 Too Many Requests: rate limit exceeded"))
            span.set_attribute("error.type", "RateLimitError")
        span.end(end_time=end_ns)

    def _child_ctx(self, span):
        return trace_api.set_span_in_context(span)

    def _trace_openllmetry(self, t0: int, feat: Feature) -> None:
        env, user = self.env(), self.user()
        session = f"demo-session-{self.rng.getrandbits(32):08x}"
        wf_tracer = self.tracer(feat.service, env, feat.language, "traceloop.tracer")
        llm_tracer = self.tracer(feat.service, env, feat.language, "opentelemetry.instrumentation.openai.v1", "0.47.3")
        props = {
            "traceloop.association.properties.feature": feat.name,
            "traceloop.association.properties.team": feat.team,
            "traceloop.association.properties.user_id": user,
            "traceloop.association.properties.session_id": session,
        }
        wf = wf_tracer.start_span(
            "support_agent.workflow",
            start_time=t0,
            attributes={
                "traceloop.span.kind": "workflow",
                "traceloop.workflow.name": "support_agent",
                "traceloop.entity.name": "support_agent",
                **props,
            },
        )
        ctx = self._child_ctx(wf)
        t = t0 + int(self.rng.uniform(2, 30) * 1e6)
        for i, model in enumerate(self._calls(feat)):
            n = self.call_numbers(feat, model)
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": model.provider,
                "gen_ai.request.model": model.name,
                "gen_ai.response.model": model.name,
                "gen_ai.request.temperature": 0.3,
                "traceloop.workflow.name": "support_agent",
                **props,
            }
            if not n["missing"]:
                attrs.update(
                    {
                        "gen_ai.usage.input_tokens": n["in"],
                        "gen_ai.usage.output_tokens": n["out"],
                        "gen_ai.usage.total_tokens": n["in"] + n["out"],
                    }
                )
                if n["cache_read"]:
                    attrs["gen_ai.usage.cache_read.input_tokens"] = n["cache_read"]
            span = llm_tracer.start_span(
                "openai.chat", context=ctx, kind=SpanKind.CLIENT, start_time=t, attributes=attrs
            )
            t += n["dur_ns"]
            self._end(span, t, n["error"])
            if i == 0 and self.rng.random() < 0.5:  # a tool call between model turns
                tool = wf_tracer.start_span(
                    "lookup_order.tool",
                    context=ctx,
                    start_time=t + 1_000_000,
                    attributes={"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_order"},
                )
                t += int(self.rng.uniform(20, 300) * 1e6)
                tool.end(end_time=t)
            t += int(self.rng.uniform(1, 15) * 1e6)
        wf.end(end_time=t + 2_000_000)

    def _genai_attrs(self, model: Model, n: dict, legacy: bool, operation: str = "chat") -> dict:
        a = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model.name,
            "gen_ai.response.model": model.name,
        }
        if legacy:
            a["gen_ai.system"] = model.provider
            if not n["missing"]:
                a["gen_ai.usage.prompt_tokens"] = n["in"]
                a["gen_ai.usage.completion_tokens"] = n["out"]
        else:
            a["gen_ai.provider.name"] = model.provider
            if not n["missing"]:
                a["gen_ai.usage.input_tokens"] = n["in"]
                if operation != "embeddings":
                    a["gen_ai.usage.output_tokens"] = n["out"]
                if n["cache_read"]:
                    a["gen_ai.usage.cache_read.input_tokens"] = n["cache_read"]
                if n["reasoning"]:
                    a["gen_ai.usage.reasoning.output_tokens"] = n["reasoning"]
        return a

    def _trace_genai(self, t0: int, feat: Feature) -> None:
        """Current OTel GenAI names under an HTTP server span (the search API, notebooks)."""
        env = self.env()
        http = self.tracer(feat.service, env, feat.language, "opentelemetry.instrumentation.fastapi", "0.48b0")
        llm = self.tracer(feat.service, env, feat.language, "opentelemetry.instrumentation.openai_v2", "2.3b0")
        root_attrs = {"http.request.method": "POST", "http.route": "/search", "user.id": self.user()}
        if feat.name:
            root_attrs.update({"app.feature": feat.name, "app.team": feat.team})
        else:
            root_attrs = {"notebook": "scratch.ipynb"}
        root = http.start_span(
            "POST /search" if feat.name else "notebook cell", kind=SpanKind.SERVER, start_time=t0, attributes=root_attrs
        )
        ctx = self._child_ctx(root)
        t = t0 + int(self.rng.uniform(1, 5) * 1e6)
        if feat.embeddings:
            n = self.call_numbers(feat, GPT41_MINI)
            n["in"], n["dur_ns"] = max(4, n["in"] // 20), int(self.rng.uniform(40, 160) * 1e6)
            emb = Model("text-embedding-3-small", "openai", 1, 0, 0)
            span = llm.start_span(
                "embeddings text-embedding-3-small",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=t,
                attributes=self._genai_attrs(emb, n, False, "embeddings"),
            )
            t += n["dur_ns"]
            self._end(span, t, n["error"])
        for model in self._calls(feat):
            n = self.call_numbers(feat, model)
            span = llm.start_span(
                f"chat {model.name}",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=t,
                attributes=self._genai_attrs(model, n, False),
            )
            sc = span.get_span_context()
            self.events.add_call(feat.service, env, feat.name, sc.trace_id, sc.span_id, t)
            t += n["dur_ns"]
            self._end(span, t, n["error"])
        root.end(end_time=t + int(self.rng.uniform(2, 20) * 1e6))

    def _trace_genai_legacy(self, t0: int, feat: Feature) -> None:
        """Deprecated GenAI names (gen_ai.system, prompt/completion tokens) under a job span."""
        env = self.env()
        tracer = self.tracer(feat.service, env, feat.language, "opentelemetry.instrumentation.anthropic", "0.33.0")
        job = tracer.start_span(
            "summarize_document",
            start_time=t0,
            attributes={
                "app.feature": feat.name,
                "app.team": feat.team,
                "user.id": self.user(),
                "document.pages": self.rng.randint(1, 40),
            },
        )
        ctx = self._child_ctx(job)
        t = t0 + int(self.rng.uniform(5, 50) * 1e6)
        for model in self._calls(feat):
            n = self.call_numbers(feat, model)
            span = tracer.start_span(
                f"chat {model.name}",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=t,
                attributes=self._genai_attrs(model, n, True),
            )
            t += n["dur_ns"]
            self._end(span, t, n["error"])
        job.end(end_time=t + 3_000_000)

    def _trace_genai_agent(self, t0: int, feat: Feature) -> None:
        """An agent: invoke_agent wrapper, chat turns and tool executions (current GenAI names)."""
        env = self.env()
        tracer = self.tracer(feat.service, env, feat.language, "demo.code_review_agent", "0.9.0")
        agent = tracer.start_span(
            "invoke_agent code_reviewer",
            start_time=t0,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "code_reviewer",
                "app.feature": feat.name,
                "app.team": feat.team,
                "user.id": self.user(),
                "session.id": f"demo-pr-{self.rng.randint(1000, 9999)}",
            },
        )
        ctx = self._child_ctx(agent)
        t = t0 + 3_000_000
        for model in self._calls(feat):
            n = self.call_numbers(feat, model)
            span = tracer.start_span(
                f"chat {model.name}",
                context=ctx,
                kind=SpanKind.CLIENT,
                start_time=t,
                attributes=self._genai_attrs(model, n, False),
            )
            t += n["dur_ns"]
            self._end(span, t, n["error"])
            tool = tracer.start_span(
                "execute_tool read_file",
                context=ctx,
                start_time=t + 500_000,
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "read_file"},
            )
            t += int(self.rng.uniform(5, 60) * 1e6)
            tool.end(end_time=t)
        agent.end(end_time=t + 1_000_000)

    def _trace_openinference(self, t0: int, feat: Feature) -> None:
        env, user = self.env(), self.user()
        tracer = self.tracer(feat.service, env, feat.language, "openinference.instrumentation.llama_index", "4.3.0")
        metadata = json.dumps({"feature": feat.name, "team": feat.team, "user_id": user})
        chain = tracer.start_span(
            "query",
            start_time=t0,
            attributes={
                "openinference.span.kind": "CHAIN",
                "metadata": metadata,
                "user.id": user,
                "input.value": "How do I rotate my API key?",
            },
        )
        ctx = self._child_ctx(chain)
        t = t0 + 2_000_000
        ret = tracer.start_span(
            "retrieve",
            context=ctx,
            start_time=t,
            attributes={"openinference.span.kind": "RETRIEVER", "metadata": metadata},
        )
        t += int(self.rng.uniform(30, 250) * 1e6)
        ret.end(end_time=t)
        for model in self._calls(feat):
            n = self.call_numbers(feat, model)
            vendor = "openai" if model.provider == "openai" else "anthropic"
            attrs = {
                "openinference.span.kind": "LLM",
                "llm.model_name": model.name,
                "llm.provider": vendor,
                "llm.system": vendor,
                "metadata": metadata,
                "llm.invocation_parameters": json.dumps({"model": model.name, "temperature": 0.1}),
            }
            if not n["missing"]:
                attrs.update(
                    {
                        "llm.token_count.prompt": n["in"],
                        "llm.token_count.completion": n["out"],
                        "llm.token_count.total": n["in"] + n["out"],
                    }
                )
                if n["cache_read"]:
                    attrs["llm.token_count.prompt_details.cache_read"] = n["cache_read"]
            span = tracer.start_span(
                "ChatCompletion" if vendor == "openai" else "Messages", context=ctx, start_time=t, attributes=attrs
            )
            t += n["dur_ns"]
            self._end(span, t, n["error"])
        chain.end(end_time=t + 1_500_000)

    def _trace_vercel(self, t0: int, feat: Feature) -> None:
        env, user = self.env(), self.user()
        tracer = self.tracer(feat.service, env, feat.language, "ai", "5.0.26")
        model = self._calls(feat)[0]
        n = self.call_numbers(feat, model)
        common = {
            "ai.model.provider": "google.generative-ai",
            "ai.model.id": model.name,
            "ai.telemetry.functionId": feat.name,
            "ai.telemetry.metadata.team": feat.team,
            "ai.telemetry.metadata.userId": user,
        }
        outer = dict(common, **{"operation.name": f"ai.generateText {feat.name}", "ai.operationId": "ai.generateText"})
        inner = dict(
            common,
            **{
                "operation.name": f"ai.generateText.doGenerate {feat.name}",
                "ai.operationId": "ai.generateText.doGenerate",
                "gen_ai.system": "gcp.gemini",
                "gen_ai.request.model": model.name,
                "gen_ai.response.model": model.name,
            },
        )
        if not n["missing"]:
            outer.update({"ai.usage.promptTokens": n["in"], "ai.usage.completionTokens": n["out"]})
            inner.update(
                {
                    "ai.usage.promptTokens": n["in"],
                    "ai.usage.completionTokens": n["out"],
                    "gen_ai.usage.input_tokens": n["in"],
                    "gen_ai.usage.output_tokens": n["out"],
                }
            )
        wrapper = tracer.start_span("ai.generateText", start_time=t0, attributes=outer)
        t = t0 + 1_000_000
        span = tracer.start_span(
            "ai.generateText.doGenerate",
            context=self._child_ctx(wrapper),
            kind=SpanKind.CLIENT,
            start_time=t,
            attributes=inner,
        )
        t += n["dur_ns"]
        self._end(span, t, n["error"])
        self._end(wrapper, t + 1_000_000, n["error"])

    def _trace_litellm(self, t0: int, feat: Feature) -> None:
        env = self.env()
        job = self.tracer("demo-batch-jobs", env, feat.language, "demo.batch", "1.0")
        proxy = self.tracer(feat.service, env, feat.language, "litellm", "1.79.3")
        root = job.start_span(
            "enrich_leads batch",
            start_time=t0,
            attributes={"app.feature": feat.name, "app.team": feat.team, "batch.size": self.rng.randint(5, 50)},
        )
        ctx = self._child_ctx(root)
        t = t0 + 5_000_000
        for model in self._calls(feat):
            n = self.call_numbers(feat, model)
            system = {"openai": "openai", "anthropic": "anthropic", "gcp.gemini": "gemini"}[model.provider]
            attrs = {
                "gen_ai.framework": "litellm",
                "gen_ai.system": system,
                "gen_ai.operation.name": "acompletion",
                "llm.request.type": "acompletion",
                "gen_ai.request.model": model.name,
                "gen_ai.response.model": model.name,
                "litellm.model_group": "demo-pool",  # LiteLLM's model alias group: not a feature
                "metadata.feature": feat.name,  # request metadata, flattened by LiteLLM's callback
                "metadata.user_api_key_team_id": feat.team,
                "metadata.user_api_key_alias": "demo-enrichment-job",
            }
            if not n["missing"]:
                attrs.update(
                    {
                        "gen_ai.usage.input_tokens": n["in"],
                        "gen_ai.usage.output_tokens": n["out"],
                        "gen_ai.usage.total_tokens": n["in"] + n["out"],
                    }
                )
            span = proxy.start_span(
                "litellm_request", context=ctx, kind=SpanKind.SERVER, start_time=t, attributes=attrs
            )
            raw = proxy.start_span(
                "raw_gen_ai_request",
                context=self._child_ctx(span),
                kind=SpanKind.CLIENT,
                start_time=t + 2_000_000,
                attributes={f"llm.{system}.model": model.name, f"llm.{system}.stream": False},
            )
            raw.end(end_time=t + n["dur_ns"] - 1_000_000)
            t += n["dur_ns"]
            self._end(span, t, n["error"])
            t += int(self.rng.uniform(5, 40) * 1e6)
        root.end(end_time=t)

    def take_encoded(self) -> bytes:
        return encode_spans(self.collector.take()).SerializeToString()


def generate_batches(
    n_calls: int = DEFAULT_CALLS,
    days: int = DEFAULT_DAYS,
    seed: int = 7,
    now: datetime | None = None,
    traces_per_batch: int = 1500,
):
    """Yield (batch number, batch count, OTLP protobuf bytes) of demo traffic."""
    for b, total, body, _ in _batches(n_calls, days, seed, now, traces_per_batch):
        yield b, total, body


def _batches(n_calls: int, days: int, seed: int, now: datetime | None, traces_per_batch: int = 1500):
    """(batch number, batch count, OTLP trace request, OTLP logs request of its GenAI events or None)."""
    now = now or datetime.now(UTC)
    gen = _Generator(seed, now, days)
    plan = gen.plan(n_calls)
    total = max(1, math.ceil(len(plan) / traces_per_batch))
    for b in range(total):
        for start_ns, feat in plan[b * traces_per_batch : (b + 1) * traces_per_batch]:
            gen.trace(start_ns, feat)
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
