"""Demo GenAI log events: the message content of the demo's chat calls, sent as log events the way
opentelemetry-instrumentation-openai-v2 sends them (gen_ai.system.message, gen_ai.user.message,
gen_ai.assistant.message and gen_ai.tool.message for the input, gen_ai.choice for the answer),
joined to their calls through (trace_id, span_id).

What the messages say is planned in demo_plan.py (system prompts, multi-turn history, repeats,
tool calls); this module only encodes them as one ExportLogsServiceRequest per batch.
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmledger.telemetry.demo_plan import Call, Msg
from llmledger.telemetry.rows import DEMO_ATTRIBUTE

EVENT_NAMES = {
    "system": "gen_ai.system.message",
    "user": "gen_ai.user.message",
    "assistant": "gen_ai.assistant.message",
    "tool": "gen_ai.tool.message",
}


def _tool_calls(m: Msg) -> list:
    return [
        {"id": tc["id"], "type": "function", "function": {"name": tc["name"], "arguments": tc["arguments"]}}
        for tc in m.tool_calls
    ]


def _body(m: Msg) -> dict:
    body: dict = {}
    if m.text is not None:
        body["content"] = m.text
    if m.tool_calls:
        body["tool_calls"] = _tool_calls(m)
    if m.tool_call_id:
        body["id"] = m.tool_call_id
    return body


class DemoEvents:
    def __init__(self):
        self._records: dict[tuple[str, str, str], list] = {}  # (service, env, scope) -> records

    def add_call(self, service: str, env: str, scope: str, call: Call, trace_id: int, span_id: int) -> None:
        """The events of one chat call: its input messages, then its answer (none when it failed)."""
        out = self._records.setdefault((service, env, scope), [])
        attrs = (("gen_ai.system", call.model.provider), ("gen_ai.request.model", call.model.name))
        for i, m in enumerate(call.messages or ()):
            out.append((EVENT_NAMES[m.role], _body(m), trace_id, span_id, call.t + i, attrs))
        if call.answer is not None:
            a = call.answer
            message: dict = {"role": "assistant"}
            if a.text is not None:
                message["content"] = a.text
            if a.tool_calls:
                message["tool_calls"] = _tool_calls(a)
            finish = "tool_calls" if a.tool_calls else "stop"
            body = {"index": 0, "finish_reason": finish, "message": message}
            out.append(("gen_ai.choice", body, trace_id, span_id, call.end, attrs))

    def take_encoded(self) -> bytes | None:
        """The events gathered since the last call, as one ExportLogsServiceRequest (None if none)."""
        if not self._records:
            return None
        req = ExportLogsServiceRequest()
        for (service, env, scope), records in self._records.items():
            rl = req.resource_logs.add()
            for k, v in (("service.name", service), ("deployment.environment.name", env)):
                a = rl.resource.attributes.add()
                a.key, a.value.string_value = k, v
            a = rl.resource.attributes.add()
            a.key, a.value.bool_value = DEMO_ATTRIBUTE, True
            sl = rl.scope_logs.add()
            sl.scope.name = scope
            for name, body, trace_id, span_id, t_ns, attrs in records:
                r = sl.log_records.add()
                r.time_unix_nano = t_ns
                r.trace_id, r.span_id = trace_id.to_bytes(16, "big"), span_id.to_bytes(8, "big")
                r.event_name = name
                for k, v in attrs:
                    a = r.attributes.add()
                    a.key, a.value.string_value = k, v
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
    elif isinstance(obj, list):
        for v in obj:
            _fill(value.array_value.values.add(), v)
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, int):
        value.int_value = obj
    else:
        value.string_value = str(obj)
