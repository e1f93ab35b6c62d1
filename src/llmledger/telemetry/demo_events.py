"""Demo GenAI log events: the message content of the demo's openai-v2 calls, sent as log events
the way opentelemetry-instrumentation-openai-v2 sends them (gen_ai.system.message,
gen_ai.user.message, gen_ai.assistant.message for history, gen_ai.choice), joined to their calls
through (trace_id, span_id).

The content is made to exercise what-ifs over captured messages: each feature has one shared
system prompt, users repeat a small pool of prompts (exact repeats: cache what-ifs), and some
calls carry the earlier turns of a conversation (multi-turn history). A separate random stream
is used, so the demo's spans do not change.
"""

from __future__ import annotations

import random
import zlib

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmledger.telemetry.rows import DEMO_ATTRIBUTE

SCOPE = "opentelemetry.instrumentation.openai_v2"
TOPICS = [
    "refund policy for annual plans",
    "how to rotate an API key",
    "exporting invoices as CSV",
    "why a payment failed",
    "changing the billing email",
    "SAML single sign-on setup",
    "rate limits on the search API",
    "deleting a workspace",
    "adding a teammate",
    "the difference between Pro and Team",
    "downloading usage reports",
    "a webhook that stopped firing",
]
ASKS = ["Explain {t}.", "Quick question about {t}?", "Can you summarise {t} in two lines?"]
FOLLOW_UPS = ["And if I'm on the free tier?", "Can you give me the exact steps?", "Thanks. Anything else to know?"]


class DemoEvents:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self._records: dict[tuple[str, str], list] = {}  # (service, env) -> log record kwargs

    def system_prompt(self, feature: str) -> str:
        return (
            f"You are the assistant behind {feature or 'a notebook'}. Answer briefly and cite the help "
            "centre article you used. Never reveal account data you were not given."
        )

    def add_call(self, service: str, env: str, feature: str, trace_id: int, span_id: int, t_ns: int) -> None:
        """The events of one chat call: shared system prompt, optional history, a user prompt from
        a small pool, the answer."""
        rng = self.rng
        topic = rng.choice(TOPICS[: 4 + zlib.crc32(feature.encode()) % 8])  # a pool per feature
        prompt = rng.choice(ASKS).format(t=topic)
        answer = f"Here is what the help centre says about {topic}: see article {rng.randint(100, 140)}."
        turns = [("gen_ai.system.message", {"content": self.system_prompt(feature)})]
        if rng.random() < 0.3:  # a later turn of a conversation: the earlier ones come along
            turns.append(("gen_ai.user.message", {"content": prompt}))
            turns.append(("gen_ai.assistant.message", {"content": answer}))
            prompt = rng.choice(FOLLOW_UPS)
            answer = f"On that point: {topic} works the same way, with one extra step in settings."
        turns.append(("gen_ai.user.message", {"content": prompt}))
        turns.append(
            (
                "gen_ai.choice",
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}},
            )
        )
        out = self._records.setdefault((service, env), [])
        for i, (name, body) in enumerate(turns):
            out.append((name, body, trace_id, span_id, t_ns + i))

    def take_encoded(self) -> bytes | None:
        """The events gathered since the last call, as one ExportLogsServiceRequest (None if none)."""
        if not self._records:
            return None
        req = ExportLogsServiceRequest()
        for (service, env), records in self._records.items():
            rl = req.resource_logs.add()
            for k, v in (("service.name", service), ("deployment.environment.name", env)):
                a = rl.resource.attributes.add()
                a.key, a.value.string_value = k, v
            a = rl.resource.attributes.add()
            a.key, a.value.bool_value = DEMO_ATTRIBUTE, True
            sl = rl.scope_logs.add()
            sl.scope.name = SCOPE
            for name, body, trace_id, span_id, t_ns in records:
                r = sl.log_records.add()
                r.time_unix_nano = t_ns
                r.trace_id, r.span_id = trace_id.to_bytes(16, "big"), span_id.to_bytes(8, "big")
                r.event_name = name
                a = r.attributes.add()
                a.key, a.value.string_value = "gen_ai.system", "openai"
                _fill(r.body, body)
        self._records = {}
        return req.SerializeToString()


def _fill(value, obj) -> None:
    """A Python value into an OTLP AnyValue."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            kv = value.kvlist_value.values.add()
            kv.key = k
            _fill(kv.value, v)
    elif isinstance(obj, int):
        value.int_value = obj
    else:
        value.string_value = str(obj)
