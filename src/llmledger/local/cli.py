"""`bench-local`: the lab's latency matrix from the command line (same measurements as the page).

python -m llmledger bench-local --model smollm2 --quant Q4_1,Q8_0 --runs 3 --json
"""

from __future__ import annotations

from llmledger.cli_common import add_common
from llmledger.errors import DatabaseLocked, LedgerError, LocalModelError


def register(sub) -> None:
    p = sub.add_parser("bench-local", help="time local llama.cpp variants (load, TTFT, tokens/s, RSS)")
    p.add_argument("--model", default="smollm2", help="smollm2, gemma3-270m, or a path to a .gguf")
    p.add_argument(
        "--quant", default=None, help="comma-separated file types, e.g. Q4_1,Q8_0 (default: the model's own type)"
    )
    p.add_argument("--runs", type=int, default=3, help="repeats of each prompt (default 3)")
    p.add_argument("--prompts", default="short", help="prompt set name, or a file with one prompt per line")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ctx", type=int, default=512, help="context size (default 512)")
    p.add_argument("--perplexity", action="store_true", help="also measure perplexity on the shipped text")
    p.add_argument("--no-record", action="store_true", help="do not write the runs to the ledger")
    p.add_argument(
        "--otlp-endpoint", default=None, help="also send each run as an OTel GenAI span to this OTLP/HTTP traces URL"
    )
    add_common(p)
    p.set_defaults(func=bench_local)


def _prompts(arg: str) -> list[tuple[str, str]]:
    from pathlib import Path

    from llmledger.local.lab import PROMPT_SETS

    if arg in PROMPT_SETS:
        return PROMPT_SETS[arg]
    path = Path(arg)
    if not path.is_file():
        raise LocalModelError(f"--prompts: {arg!r} is neither a prompt set ({', '.join(PROMPT_SETS)}) nor a file")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise LocalModelError(f"--prompts: {arg} has no prompts")
    return [(f"p{i + 1}", t) for i, t in enumerate(lines)]


def bench_local(args):
    from llmledger.local import lab, models, quantize, runner

    if args.runs < 1 or args.max_tokens < 1 or args.ctx < 64:
        raise LocalModelError("--runs and --max-tokens must be at least 1, --ctx at least 64")
    source = models.resolve_model(args.model)
    qtypes = [q.strip().upper() for q in (args.quant or quantize.file_type_name(source)).split(",") if q.strip()]
    variants = [quantize.quantize(source, q, threads=args.threads) for q in qtypes]
    settings = runner.Settings(n_threads=args.threads or runner.DEFAULT_THREADS, n_ctx=args.ctx)
    prompts = _prompts(args.prompts)

    con, recorded_note, emitter = None, None, None
    if not args.no_record:
        from llmledger.store.db import connect

        try:
            con = connect(args.db) if args.db else connect()
        except DatabaseLocked as exc:
            recorded_note = f"not recorded: {exc.msg}"
    if args.otlp_endpoint:
        from llmledger.local.telemetry import SpanEmitter

        emitter = SpanEmitter(args.otlp_endpoint)
    recorder = lab.Recorder(con, emitter)
    host = runner.ModelHost()
    try:
        matrix = lab.run_matrix(host, variants, prompts, args.runs, args.max_tokens, settings, record=recorder)
        ppl = lab.measure_quality(host, variants, settings) if args.perplexity else {}
        for v in variants:
            if v.name in ppl:
                recorder.quality(v, ppl[v.name])
        recorder.flush()
    except LedgerError:
        raise
    finally:
        host.close()
        if emitter is not None:
            emitter.shutdown()
        if con is not None:
            con.close()
    rows = lab.summary(matrix, variants)
    for r in rows:
        if r["variant"] in ppl:
            r["perplexity"] = ppl[r["variant"]].perplexity
    data = {
        "model": str(source),
        "batch_id": matrix.batch_id,
        "settings": settings.__dict__,
        "variants": [v.to_dict() for v in variants],
        "summary": rows,
        "runs": [{k: v for k, v in r.items() if k not in ("started_at",)} for r in matrix.runs],
        "recorded": con is not None,
        "note": recorded_note,
    }
    head = f"{'variant':<8} {'MB':>7} {'bpw':>6} {'load s':>7} {'RSS MB':>7} {'TTFT ms':>8} {'pp t/s':>8} {'tg t/s':>8} {'(±)':>6} {'e2e ms':>8}"
    lines = [
        f"{source.name}: {len(matrix.runs)} runs, {args.max_tokens} max tokens, {settings.n_threads} threads",
        head,
    ]
    for r in rows:
        lines.append(
            f"{r['variant']:<8} {r.get('size_mb', 0):>7.1f} {r.get('bits_per_weight', 0):>6.2f} {r['load_s']:>7.3f} "
            f"{r['peak_rss_mb']:>7.0f} {r['ttft_ms']:>8.1f} {r['prompt_tps']:>8.1f} {r['gen_tps']:>8.1f} "
            f"{r['gen_tps_spread']:>6.1f} {r['e2e_ms']:>8.1f}"
            + (f"  ppl {r['perplexity']:.2f}" if "perplexity" in r else "")
        )
    for v in variants:
        if v.requantized_from:
            lines.append(f"note: {v.name} was {v.note}")
    if recorded_note:
        lines.append(recorded_note)
    return data, "\n".join(lines)
