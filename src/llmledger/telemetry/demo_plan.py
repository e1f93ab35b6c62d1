"""Demo traffic planned before it is emitted: which traces, which calls, what they say, what they cost.

Each feature's traffic is planned as units (one unit = one trace) with their calls' messages,
answers, token counts, times and durations; demo.py then emits every unit through the real
OpenTelemetry SDK in its feature's convention and demo_events.py sends the messages as GenAI log
events. Planning first lets one pass over all calls, in time order, work out the prompt-cache
reads a provider would have reported (`observe_caching`), as real traffic reports them.

What the traffic exercises (simulate/levers):
- support chat: multi-turn sessions (session_id) carrying their whole history; a ~1,300-token
  system prompt with the product FAQ shared by every call; popular questions asked in the same
  words (exact repeats), in other case or spacing (normalised repeats) and in other words
  (paraphrases, whose answers differ); a tool call between two model calls; bursts of the same
  question during incidents; a user regenerating an answer;
- RAG answers: help-centre passages in front of the question (near-duplicate questions share them);
- ticket triage: a ~1,300-token few-shot prompt, tickets sometimes delivered twice;
- document summaries: long documents (compression), the same document summarised by colleagues
  within the hour, follow-up questions in a session (prefix caching, memory);
- lead enrichment: a nightly batch job (latency-tolerant: batch API), leads re-enriched on later
  nights and duplicated inside a job (agent-call cache);
- code review: an agent loop of model calls and read_file tool calls whose history grows inside
  the trace; some steps repeated identically; Anthropic models with explicit cache writes;
- semantic search: embedding calls only (queries, and nightly re-indexing), no chat messages;
- notebooks (no feature): cells re-run with the same prompt.
Output lengths follow from the answers' text, so each feature has its own tail of output tokens.
"""

from __future__ import annotations

import itertools
import math
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from llmledger.telemetry import demo_text as tx

MISSING_USAGE_RATE = 0.04  # plus error calls, which report no usage either: ~5% in all
ERROR_RATE = 0.012
MSG_OVERHEAD = 4  # chat framing tokens per message
S = 1_000_000_000  # ns per second
MS = 1_000_000


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
    hours: str = "office"  # 'office' | 'night' | 'flat'
    launch_day: int = 0  # days after the window starts
    embeddings: bool = False


GPT4O = Model("gpt-4o", "openai", 1, 11, 450)
GPT4O_MINI = Model("gpt-4o-mini", "openai", 1, 7, 320)
O3_MINI = Model("o3-mini", "openai", 1, 9, 1400)
SONNET4 = Model("claude-sonnet-4-20250514", "anthropic", 1, 14, 700)
SONNET35 = Model("claude-3-5-sonnet-20241022", "anthropic", 1, 13, 650)
HAIKU35 = Model("claude-3-5-haiku-20241022", "anthropic", 1, 8, 420)
HAIKU45 = Model("claude-haiku-4-5-20251001", "anthropic", 1, 7, 400)
FLASH20 = Model("gemini-2.0-flash", "gcp.gemini", 1, 5, 300)
FLASH25 = Model("gemini-2.5-flash", "gcp.gemini", 1, 6, 380)
EMBED = Model("text-embedding-3-small", "openai", 1, 0, 60)
# No price sheet knows this one: the Calls page lists it under "unknown model". It runs on a
# self-hosted endpoint whose instrumentation does not capture message content.
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
        0.22,
        (_w(GPT4O_MINI, 0.62), _w(GPT4O, 0.33), _w(FINETUNE, 0.05)),
    ),
    Feature(
        "demo-semantic-search",
        "demo-team-search",
        "demo-search-api",
        "python",
        "genai",
        0.24,
        (EMBED,),
        embeddings=True,
    ),
    Feature(
        "demo-doc-summary",
        "demo-team-docs",
        "demo-doc-summarizer",
        "python",
        "genai_legacy",
        0.07,
        (_w(HAIKU35, 0.7), _w(SONNET4, 0.3)),
    ),
    Feature(
        "demo-rag-answers",
        "demo-team-search",
        "demo-rag-assistant",
        "python",
        "openinference",
        0.13,
        (_w(GPT4O, 0.55), _w(SONNET35, 0.45)),
    ),
    Feature(
        "demo-ticket-triage",
        "demo-team-support",
        "demo-ticket-triage",
        "nodejs",
        "vercel",
        0.12,
        (_w(FLASH20, 0.7), _w(FLASH25, 0.3)),
    ),
    Feature(
        "demo-lead-enrichment",
        "demo-team-growth",
        "demo-llm-gateway",
        "python",
        "litellm",
        0.10,
        (_w(GPT4O_MINI, 0.5), _w(FLASH25, 0.3), _w(HAIKU45, 0.2)),
        hours="night",
    ),
    Feature(
        "demo-code-review",
        "demo-team-platform",
        "demo-dev-tools",
        "python",
        "genai_agent",
        0.09,
        (_w(O3_MINI, 0.5), _w(SONNET4, 0.5)),
        launch_day=35,
    ),
    # No feature attributes anywhere in these traces: shows up as "(unattributed)".
    Feature("", "", "demo-notebooks", "python", "genai", 0.03, (_w(GPT4O, 0.6), _w(FLASH25, 0.4)), hours="flat"),
)
FEATURE = {f.style + ":" + f.name: f for f in FEATURES}

ENVIRONMENTS = (("production", 0.86), ("staging", 0.11), ("development", 0.03))
_OFFICE = [0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.3]
_OFFICE += [1.2, 1.3, 1.4, 1.4, 1.3, 1.1, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2]
_NIGHT = [1.2, 1.6, 1.6, 1.4, 1.0, 0.4] + [0.05] * 17 + [0.6]
HOURLY = {"office": _OFFICE, "night": _NIGHT, "flat": [1.0] * 24}
WEEKDAY = {"office": [1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.3], "night": [1.0] * 7, "flat": [1.0] * 7}

# Provider prompt caches as the demo's instrumented apps see them: (min tokens, block, TTL s, hit
# probability, writes reported). OpenAI caches automatically (not every time); Gemini 2.5 Flash
# implicitly; Claude only where the app marks a breakpoint (the code-review agent does).
PROVIDER_CACHE = {
    "gpt-4o": (1024, 128, 300, 0.85, False),
    "gpt-4o-mini": (1024, 128, 300, 0.85, False),
    "o3-mini": (1024, 128, 300, 0.85, False),
    "gemini-2.5-flash": (1024, 1, 300, 0.7, False),
}
EXPLICIT_CACHE = (1024, 1, 300, 1.0, True)  # Claude with cache_control


@dataclass
class Msg:
    role: str  # system | user | assistant | tool
    text: str | None
    tool_calls: tuple = ()  # ({"id", "name", "arguments"},)
    tool_call_id: str | None = None
    n: int | None = None  # its text's tokens, when counted from its parts


@dataclass
class Call:
    t: int  # start, ns since the epoch
    dur: int  # ns
    model: Model
    inp: int
    out: int  # includes reasoning tokens
    reasoning: int = 0
    operation: str = "chat"
    messages: list[Msg] | None = None  # the input; None: content not captured
    answer: Msg | None = None
    error: bool = False
    missing: bool = False
    cache_read: int = 0
    cache_write: int = 0
    report_cache: bool = False  # the instrumentation reports cache tokens
    explicit_cache: bool = False  # the app marks cache breakpoints (Claude)
    tool: tuple | None = None  # (name, arguments, start ns, end ns): a tool run after this call
    prefix: list = field(default_factory=list)  # [(key, tokens)] at each message boundary

    @property
    def end(self) -> int:
        return self.t + self.dur


@dataclass
class Unit:
    """One trace."""

    t0: int
    feat: Feature
    env: str
    user: str | None
    session: str | None
    calls: list[Call]
    extra: dict = field(default_factory=dict)

    @property
    def end(self) -> int:
        return max([c.end for c in self.calls] + [c.tool[3] for c in self.calls if c.tool] + [self.t0])


def _lognormal(rng: random.Random, median: float, sigma: float = 0.55) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _zipf(n: int, s: float = 0.9) -> list[float]:
    return [1 / (i**s) for i in range(1, n + 1)]


class Planner:
    def __init__(self, seed: int, now: datetime, days: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.days = days
        self.count = tx.TokenCounter()
        self.start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.start_ns = int(self.start.timestamp() * S)
        self.limit_ns = int((now - timedelta(minutes=5)).timestamp() * S)
        self.customers = [f"demo-customer-{i:04d}" for i in range(1, 601)]
        self.customer_w = list(itertools.accumulate(_zipf(600)))
        self.employees = [f"demo-employee-{i:03d}" for i in range(1, 121)]
        self.devs = [f"demo-dev-{i:02d}" for i in range(1, 31)]
        self.analysts = [f"demo-analyst-{i}" for i in range(1, 9)]
        self.intent_w = list(itertools.accumulate(_zipf(len(tx.INTENTS), 0.8)))
        self.systems = {v: tx.support_system(v) for v in (1, 2)}
        self.triage_system = tx.triage_system()
        self.passages = {i.key: tx.rag_passages(i) for i in tx.INTENTS}
        self._docs: dict[int, tuple[str, int, list[str]]] = {}
        self.doc_bank = tx.DocBank(random.Random(seed + 5), self.count)
        self._leads: dict[int, tuple[str, str]] = {}
        self._files: dict[str, str] = {}
        self._tool_ids = 0
        self._recent_docs: list[tuple[int, int]] = []
        self._burst_times: set[int] = set()

    # ------------------------------------------------------------ shared pieces

    def env(self) -> str:
        return self.rng.choices([e for e, _ in ENVIRONMENTS], [w for _, w in ENVIRONMENTS])[0]

    def model(self, feat: Feature) -> Model:
        return self.rng.choices(feat.models, [m.weight for m in feat.models])[0]

    def customer(self) -> str:
        return self.rng.choices(self.customers, cum_weights=self.customer_w)[0]

    def tool_id(self) -> str:
        self._tool_ids += 1
        return f"call_{self.seed:x}{self._tool_ids:07x}"

    def tokens(self, msgs: list[Msg]) -> int:
        n = 3
        for m in msgs:
            n += MSG_OVERHEAD + (m.n if m.n is not None else self.count(m.text) if m.text else 0)
            for tc in m.tool_calls:
                n += 3 + self.count(tc["arguments"])
        return n

    def call(
        self,
        model: Model,
        t: int,
        msgs: list[Msg] | None,
        answer: Msg,
        capture: bool = True,
        report_cache: bool = False,
        explicit_cache: bool = False,
    ) -> Call:
        rng = self.rng
        inp = self.tokens(msgs)
        out = (self.count(answer.text) if answer.text else 0) + sum(
            3 + self.count(tc["arguments"]) for tc in answer.tool_calls
        )
        reasoning = int(out * rng.uniform(0.5, 2.5)) if model.name.startswith("o3") else 0
        dur = (model.ttft_ms + inp * 0.02 + (out + reasoning) * model.ms_per_token) * rng.lognormvariate(0, 0.25)
        error = rng.random() < ERROR_RATE
        missing = error or rng.random() < MISSING_USAGE_RATE
        if error:
            dur = rng.uniform(80, 2500)
        c = Call(
            t=t,
            dur=int(dur * MS),
            model=model,
            inp=inp,
            out=out + reasoning,
            reasoning=reasoning,
            # a failed call, and most calls without usage (streamed without usage), carry no content;
            # some OpenAI ones do, and get an estimate from their text when loaded (counting Claude's
            # and Gemini's would load two more tokenizers into the demo fill)
            messages=msgs
            if capture and not error and (not missing or (model.provider == "openai" and rng.random() < 0.5))
            else None,
            answer=None if error else answer,
            error=error,
            missing=missing,
            report_cache=report_cache and not missing,
            explicit_cache=explicit_cache,
        )
        if report_cache:
            c.prefix = self._prefix(msgs)
        return c

    def _prefix(self, msgs: list[Msg]) -> list:
        out, key, n = [], 0, 3
        for m in msgs:
            key = hash((key, m.role, m.text, tuple(tc["arguments"] for tc in m.tool_calls)))
            n += MSG_OVERHEAD + (m.n if m.n is not None else self.count(m.text) if m.text else 0)
            n += sum(3 + self.count(tc["arguments"]) for tc in m.tool_calls)
            out.append((key, n))
        return out

    # ------------------------------------------------------------ when

    def start_times(self, feat: Feature, k: int) -> list[int]:
        """k trace start times (ns, in random order) shaped by growth, weekly and daily seasonality."""
        rng = self.rng
        launch = min(feat.launch_day, self.days // 3)  # short windows still see every feature
        live = range(launch, self.days)
        day_w = []
        for d in live:
            day = self.start + timedelta(days=d)
            ramp = min(1.0, (d - launch + 1) / 10) if launch else 1.0
            day_w.append((0.8 + 0.7 * d / self.days) * WEEKDAY[feat.hours][day.weekday()] * ramp)
        days = rng.choices(list(live), day_w, k=k)
        hours = rng.choices(range(24), HOURLY[feat.hours], k=k)
        return [self.start_ns + (d * 86400 + h * 3600) * S + int(rng.random() * 3600 * S) for d, h in zip(days, hours)]

    def plan(self, n_calls: int) -> list[Unit]:
        """Every feature's units until its share of n_calls is reached; in random order."""
        units: list[Unit] = []
        for feat in FEATURES:
            quota = max(1, round(n_calls * feat.share))
            starts = self.start_times(feat, quota + 8)
            if feat.embeddings:
                planner = self._plan_search
            else:
                planner = getattr(self, f"_plan_{feat.style}" if feat.name else "_plan_notebook")
            if feat.name == "demo-support-chat":
                starts = self._incidents(starts)
            chosen, expected, i = [], 0.0, 0
            while expected < quota * 1.1 and i < len(starts):
                chosen.append(starts[i])
                expected += self._expected_calls(feat)
                i += 1
            # each feature's starts handled in time order (recent documents and leads are picked
            # from what came before); whole groups (sessions) dropped at random past the quota
            groups = []
            for t0 in sorted(chosen):
                g = [u for u in planner(t0, feat) if u.end < self.limit_ns and u.t0 >= self.start_ns]
                if g:
                    groups.append(g)
            n = sum(len(u.calls) for g in groups for u in g)
            while groups:
                j = self.rng.randrange(len(groups))
                size = sum(len(u.calls) for u in groups[j])
                if n - size < quota:
                    break
                n -= size
                groups.pop(j)
            units += [u for g in groups for u in g]
        self.rng.shuffle(units)
        observe_caching(units, self.rng)
        return units

    def _expected_calls(self, feat: Feature) -> float:
        return {
            "demo-support-chat": 3.1,
            "demo-doc-summary": 1.5,
            "demo-rag-answers": 1.42,
            "demo-ticket-triage": 1.07,
            "demo-lead-enrichment": 4.3,
            "demo-code-review": 5.2,
            "": 1.25,
        }.get(feat.name, 1.0)

    def _incidents(self, starts: list[int]) -> list[int]:
        """A few incidents: during each, many customers ask whether the product is down."""
        rng = self.rng
        bursts = [self.start_ns + int(rng.uniform(0.1, 0.95) * self.days * 86400) * S for _ in range(3)]
        bursts = [b - (b % (86400 * S)) + rng.randint(9, 16) * 3600 * S for b in bursts]
        out = list(starts)
        for j in range(0, len(out), 16):  # ~6% of sessions
            b = bursts[j % 3]
            out[j] = b + int(rng.uniform(0, 50 * 60) * S)
            self._burst_times.add(out[j])
        return out

    # ------------------------------------------------------------ support chat: sessions

    def _plan_openllmetry(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        model = self.model(feat)
        capture = model.name != FINETUNE.name  # the self-hosted fine-tune captures nothing
        env, user = self.env(), self.customer()
        session = f"demo-session-{rng.getrandbits(40):010x}"
        version = 2 if t0 >= self.start_ns + int(0.6 * self.days * 86400) * S else 1
        history = [Msg("system", self.systems[version])]
        burst = t0 in self._burst_times
        intent = next(i for i in tx.INTENTS if i.key == "outage") if burst else self._intent()
        n_turns = 1 if burst else rng.choices((1, 2, 3, 4, 5, 6, 8, 10, 14, 18), (30, 22, 14, 10, 7, 5, 4, 3, 3, 2))[0]
        units, t = [], t0
        asked: set = set()
        for turn in range(n_turns):
            if turn == 0:
                question = self._phrase(intent)
            else:
                r = rng.random()
                left = [f for f in intent.follow_ups if f[0] not in asked]
                if r < 0.15:
                    intent = self._intent()
                    question, answer_text = self._phrase(intent), None
                elif r < 0.3:
                    question, answer_text = "Can you give me the exact steps?", tx.support_answer(rng, intent, True)
                elif left and r < 0.8:
                    question, answer_text = left[0]
                    asked.add(question)
                else:
                    question, answer_text = rng.choice(tx.GENERIC_FOLLOW_UPS)
            user_msg = Msg("user", question)
            if turn == 0 or answer_text is None:
                answer_text = tx.support_answer(rng, intent, rng.random() < 0.12)
            calls = []
            ct = t + int(rng.uniform(2, 30) * MS)
            msgs = [*history, user_msg]
            if intent.tool and rng.random() < (0.8 if turn == 0 else 0.4):
                tc = {"id": self.tool_id(), "name": "lookup_account", "arguments": f'{{"account_id": "{user[-4:]}"}}'}
                ask = Msg("assistant", None, (tc,))
                c1 = self.call(model, ct, msgs, ask, capture, report_cache=True)
                ts = c1.end + MS
                te = ts + int(rng.uniform(20, 300) * MS)
                c1.tool = ("lookup_account", tc["arguments"], ts, te)
                calls.append(c1)
                result = Msg("tool", tx.account_result(rng, user[-4:]), tool_call_id=tc["id"])
                msgs = [*msgs, ask, result]
                ct = te + int(rng.uniform(1, 15) * MS)
            answer = Msg("assistant", answer_text)
            calls.append(self.call(model, ct, msgs, answer, capture, report_cache=True))
            if rng.random() < 0.03:  # the user regenerates the answer: the same request again
                again = calls[-1].end + int(rng.uniform(3, 40) * S)
                calls.append(
                    self.call(
                        model, again, msgs, Msg("assistant", tx.support_answer(rng, intent, False)), capture, True
                    )
                )
            units.append(Unit(t, feat, env, user, session, calls, {"workflow": "support_agent"}))
            history = [*msgs, calls[-1].answer or answer]
            t = units[-1].end + int(rng.uniform(15, 240) * S)  # the customer reads and types
        return units

    def _intent(self) -> tx.Intent:
        return self.rng.choices(tx.INTENTS, cum_weights=self.intent_w)[0]

    def _phrase(self, intent: tx.Intent) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return intent.phrasings[0]
        if r < 0.78:
            return rng.choice(intent.phrasings[1:])
        if r < 0.9:
            return rng.choice(intent.paraphrases)
        return rng.choice(tx.MUTATIONS)(rng.choice(intent.phrasings[:2]))

    # ------------------------------------------------------------ RAG answers

    def _plan_openinference(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        model = self.model(feat)
        intent = self._intent()
        question = self._phrase(intent)
        related = tx.INTENTS[zlib.crc32(question.encode()) % len(tx.INTENTS)]
        ps = [*self.passages[intent.key], self.passages[related.key][0]]
        if rng.random() < 0.3:  # the retriever ranks two passages the other way round
            ps[1], ps[2] = ps[2], ps[1]
        context = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(ps, 1))  # 12 x 12 x 2 distinct contexts
        calls = []
        t = t0 + int(rng.uniform(30, 250) * MS) + 2 * MS
        if rng.random() < 0.42:  # a query-rewriting step first
            rw = [
                Msg("system", "Rewrite the user's question as a short help-centre search query."),
                Msg("user", question),
            ]
            c = self.call(model, t, rw, Msg("assistant", intent.title.lower()), report_cache=True)
            calls.append(c)
            t = c.end + int(rng.uniform(5, 60) * MS)
        msgs = [Msg("system", tx.RAG_SYSTEM), self.joined("Context:\n", context, f"\n\nQuestion: {question}")]
        if rng.random() < 0.06:
            answer = "The help centre passages do not cover this. Please contact support from Settings > Help."
        else:
            steps = rng.sample(intent.steps, rng.randint(2, len(intent.steps)))
            faq = tx.FAQ_SECTIONS[intent.topic]
            answer = f"According to the help centre ({intent.title}): {faq}\n" + "\n".join(f"- {x}" for x in steps)
            answer += f"\n[1][{rng.randint(2, 4)}]"
        calls.append(self.call(model, t, msgs, Msg("assistant", answer), report_cache=model.provider == "openai"))
        return [Unit(t0, feat, self.env(), self.customer(), None, calls, {"question": question})]

    # ------------------------------------------------------------ ticket triage

    def _plan_vercel(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        model = self.model(feat)
        cat, ticket = tx.ticket_text(rng)
        msgs = [Msg("system", self.triage_system), Msg("user", ticket)]
        answer = Msg("assistant", tx.triage_answer(rng, cat, ticket))
        env, user = self.env(), self.customer()
        units = [Unit(t0, feat, env, user, None, [self.call(model, t0 + MS, msgs, answer, report_cache=True)])]
        if rng.random() < 0.07:  # the helpdesk webhook delivers the ticket a second time
            t1 = units[0].end + int(rng.uniform(5, 120) * S)
            units.append(Unit(t1, feat, env, user, None, [self.call(model, t1 + MS, msgs, answer, report_cache=True)]))
        return units

    # ------------------------------------------------------------ document summaries

    def joined(self, *parts: str) -> Msg:
        """A user message made of parts, its tokens counted part by part."""
        return Msg("user", "".join(parts), n=sum(self.count(p) for p in parts))

    def _doc(self, doc_id: int) -> tuple[str, int, list[str]]:
        if doc_id not in self._docs:
            drng = random.Random(self.seed * 100_003 + doc_id)
            size = int(min(6000, max(500, _lognormal(drng, 1400, 0.6))))
            self._docs[doc_id] = self.doc_bank.document(drng, size)
        return self._docs[doc_id]

    def _plan_genai_legacy(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        recent = [d for d, t in self._recent_docs if t0 - t < 2 * 3600 * S]
        if recent and rng.random() < 0.35:  # a colleague opens the same document
            doc_id = rng.choice(recent)
            task = tx.DOC_TASKS[0] if rng.random() < 0.6 else rng.choice(tx.DOC_TASKS)
        else:
            doc_id = len(self._docs) + 1
            task = rng.choice(tx.DOC_TASKS)
            self._recent_docs = [(d, t) for d, t in self._recent_docs if t0 - t < 2 * 3600 * S]
            self._recent_docs.append((doc_id, t0))
        doc, doc_tokens, sentences = self._doc(doc_id)
        model = self.model(feat)
        env, user = self.env(), rng.choice(self.employees)
        session = f"demo-doc-{doc_id}-{user[-3:]}-{rng.getrandbits(24):06x}"
        user_msg = Msg(
            "user", f"Document:\n{doc}\n\nTask: {task}", n=doc_tokens + self.count(f"Document:\n\n\nTask: {task}")
        )
        msgs = [Msg("system", tx.DOC_SYSTEM), user_msg]
        summary = Msg("assistant", tx.doc_summary(rng, sentences, int(_lognormal(rng, 160, 0.6))))
        c = self.call(model, t0 + int(rng.uniform(5, 50) * MS), msgs, summary)
        units = [Unit(t0, feat, env, user, session, [c], {"doc": doc_id})]
        if rng.random() < 0.35:  # follow-up questions about the document, same session
            history = [*msgs, summary]
            t = units[-1].end
            for q in rng.sample(tx.DOC_QUESTIONS, rng.randint(1, 4)):
                t += int(rng.uniform(20, 200) * S)
                msgs = [*history, Msg("user", q)]
                a = Msg("assistant", tx.doc_summary(rng, sentences, int(_lognormal(rng, 70, 0.5))))
                c = self.call(model, t + 5 * MS, msgs, a)
                units.append(Unit(t, feat, env, user, session, [c], {"doc": doc_id}))
                history = [*msgs, a]
                t = units[-1].end
        return units

    # ------------------------------------------------------------ lead enrichment (nightly batch)

    def _lead(self, lead_id: int) -> tuple[str, str]:
        if lead_id not in self._leads:
            self._leads[lead_id] = tx.lead_record(random.Random(self.seed * 7919 + lead_id), lead_id)
        return self._leads[lead_id]

    def _plan_litellm(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        n = rng.randint(2, 6)
        ids = []
        for _ in range(n):
            if self._leads and rng.random() < 0.3:  # re-enriched: a lead seen on an earlier night
                ids.append(rng.randint(1, len(self._leads)))
            else:
                ids.append(len(self._leads) + 1)
                self._lead(ids[-1])
        if n > 2 and rng.random() < 0.35:  # a dedup bug: the same lead twice in one job
            ids.insert(rng.randint(1, len(ids)), ids[0])
        t = t0 + 5 * MS
        calls = []
        for lead_id in ids:
            record, enrichment = self._lead(lead_id)
            model = feat.models[0 if lead_id % 10 < 5 else 1 if lead_id % 10 < 8 else 2]  # routed by lead id
            msgs = [Msg("system", tx.LEAD_SYSTEM), Msg("user", record)]
            c = self.call(model, t, msgs, Msg("assistant", enrichment))
            calls.append(c)
            t = c.end + int(rng.uniform(5, 40) * MS)
        return [Unit(t0, feat, self.env(), None, None, calls, {"batch_size": len(ids)})]

    # ------------------------------------------------------------ code review agent

    def _file(self, path: str) -> str:
        if path not in self._files:
            self._files[path] = tx.code_file(random.Random(f"{self.seed}:{path}"), path)
        return self._files[path]

    def _plan_genai_agent(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        pr = rng.randint(1000, 9999)
        user = rng.choice(self.devs)
        env = self.env()
        units = []
        t = t0
        for review in range(2 if rng.random() < 0.3 else 1):  # a second push gets a second review
            model = self.model(feat)
            files = rng.sample(tx.REPO_FILES, rng.randint(1, 4))
            msgs = [Msg("system", tx.REVIEW_SYSTEM), Msg("user", tx.pr_text(rng, pr, files))]
            calls = []
            ct = t + 3 * MS
            explicit = model.provider == "anthropic"
            for path in files:
                tc = {"id": self.tool_id(), "name": "read_file", "arguments": f'{{"path": "{path}"}}'}
                ask = Msg("assistant", None, (tc,))
                for _ in range(2 if rng.random() < 0.15 else 1):  # the loop re-sends the same step
                    c = self.call(model, ct, msgs, ask, report_cache=True, explicit_cache=explicit)
                    ts = c.end + MS // 2
                    c.tool = ("read_file", tc["arguments"], ts, ts + int(rng.uniform(5, 60) * MS))
                    calls.append(c)
                    ct = c.tool[3] + MS
                msgs = [*msgs, ask, Msg("tool", self._file(path), tool_call_id=tc["id"])]
            answer = Msg("assistant", tx.review_findings(rng, files, rng.randint(2, 9)))
            calls.append(self.call(model, ct, msgs, answer, report_cache=True, explicit_cache=explicit))
            units.append(Unit(t, feat, env, user, f"demo-pr-{pr}", calls, {"agent": "code_reviewer"}))
            t = units[-1].end + int(rng.uniform(0.5, 30) * 3600 * S)
        return units

    # ------------------------------------------------------------ semantic search: embeddings only

    def _plan_search(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        reindex = rng.random() < 0.03
        inp = int(_lognormal(rng, 3500, 0.5)) if reindex else int(_lognormal(rng, 12, 0.5)) + 2
        dur = int(rng.uniform(40, 160) * MS) * (8 if reindex else 1)
        c = Call(t=t0 + 2 * MS, dur=dur, model=EMBED, inp=inp, out=0, operation="embeddings")
        c.error = rng.random() < ERROR_RATE
        c.missing = c.error or rng.random() < MISSING_USAGE_RATE
        route = "/reindex" if reindex else "/search"
        return [Unit(t0, feat, self.env(), None if reindex else self.customer(), None, [c], {"route": route})]

    # ------------------------------------------------------------ notebooks (no feature)

    def _plan_notebook(self, t0: int, feat: Feature) -> list[Unit]:
        rng = self.rng
        model = self.model(feat)
        prompt = rng.choice(tx.NOTEBOOK_PROMPTS)
        if rng.random() < 0.5:
            prompt += "\n\n" + "\n".join(
                f"row {i}: " + ", ".join(str(rng.randint(0, 999)) for _ in range(6)) for i in range(rng.randint(3, 40))
            )
        msgs = [Msg("user", prompt)]
        code = "\n".join(x.format(fn="clean") for x in rng.sample(tx.CODE_LINES, rng.randint(3, 12)))
        answer = Msg(
            "assistant",
            "Here is what is going on and one way to fix it.\n"
            + " ".join(rng.sample(tx.TROUBLE, 2))
            + f"\n```python\n{code}\n```",
        )
        user = rng.choice(self.analysts)
        units = [Unit(t0, feat, self.env(), user, None, [self.call(model, t0 + 2 * MS, msgs, answer)])]
        while rng.random() < 0.25:  # the cell is run again, prompt unchanged
            t = units[-1].end + int(rng.uniform(10, 600) * S)
            units.append(Unit(t, feat, units[0].env, user, None, [self.call(model, t + 2 * MS, msgs, answer)]))
        return units


def observe_caching(units: list[Unit], rng: random.Random) -> None:
    """The cache reads (and writes) providers would have reported, for calls whose
    instrumentation reports them: in time order per model, the longest message-boundary prefix
    that a call of the same model sent within the cache's lifetime, rounded down to the provider's
    block, from its minimum up; Claude only where the app marks breakpoints."""
    calls = sorted((c for u in units for c in u.calls if c.report_cache), key=lambda c: c.t)
    seen: dict[tuple[str, int], int] = {}  # (model, prefix key) -> last time used
    for c in calls:
        cfg = EXPLICIT_CACHE if c.explicit_cache else PROVIDER_CACHE.get(c.model.name)
        if cfg is None or not c.prefix:
            continue
        lo, block, ttl, p_hit, writes = cfg
        read = 0
        for key, n in reversed(c.prefix):
            last = seen.get((c.model.name, key))
            if last is not None and c.t - last <= ttl * S:
                read = (n // block) * block
                break
        if read < lo or rng.random() > p_hit:
            read = 0
        total = c.prefix[-1][1]
        c.cache_read = min(read, c.inp)
        if writes and total >= lo:
            c.cache_write = max(0, min(total, c.inp) - c.cache_read)
        for key, _ in c.prefix:
            seen[(c.model.name, key)] = c.t
