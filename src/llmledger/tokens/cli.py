"""`tokens`: count the tokens of a text or file under every (or chosen) tokenizer."""

from __future__ import annotations

from pathlib import Path

from llmledger.cli_common import add_common
from llmledger.errors import TokenizerError
from llmledger.tokens import registry
from llmledger.tokens.corpus import decode_text, read_corpus
from llmledger.tokens.counting import count_many
from llmledger.tokens.models import tokenizer_for_model


def register(sub) -> None:
    p = sub.add_parser(
        "tokens",
        help="count tokens offline (tiktoken, Claude, GGUF vocabularies)",
        description="Count tokens under every available tokenizer, or the ones named. With "
        "--model, each row says whether it is that model's own tokenizer (exact) or a stand-in.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to count")
    src.add_argument("--file", help="a UTF-8 text file to count")
    p.add_argument(
        "--tokenizer", action="extend", nargs="+", metavar="NAME", help="tokenizer(s) to use (default: all available)"
    )
    p.add_argument("--model", help="mark counts as exact/approximate for this model")
    p.add_argument(
        "--corpus",
        action="store_true",
        help="read --file as a corpus (.txt paragraphs, .csv, .jsonl) and sum documents",
    )
    p.add_argument("--gguf", action="append", metavar="PATH", help="also register this GGUF's vocabulary")
    add_common(p, db=False)
    p.set_defaults(func=run_tokens)


def _read_input(args) -> tuple[str, list[str]]:
    if args.text is not None:
        if args.corpus:
            raise TokenizerError("--corpus needs --file")
        return "text", [args.text]
    path = Path(args.file)
    if not path.exists():
        raise TokenizerError(f"file {path} does not exist")
    if not path.is_file():
        raise TokenizerError(f"{path} is not a file")
    data = path.read_bytes()
    if args.corpus:
        return str(path), read_corpus(path.name, data)
    return str(path), [decode_text(str(path), data)]


def run_tokens(args):
    for g in args.gguf or []:
        registry.register_gguf(g)
    names = [registry.resolve_name(n) for n in args.tokenizer] if args.tokenizer else registry.available_names()
    names = list(dict.fromkeys(names))
    choice = tokenizer_for_model(args.model) if args.model else None
    if choice and not args.tokenizer and choice.name in names:  # the model's own tokenizer first
        names.remove(choice.name)
        names.insert(0, choice.name)
    source, docs = _read_input(args)
    info = {i.name: i for i in registry.list_tokenizers()}
    rows = []
    for name in names:
        tok = registry.get(name)  # unavailable names raise with the reason
        tokens = sum(count_many(docs, tok)) if len(docs) > 1 else tok.count(docs[0])
        if choice is not None:
            exact = name == choice.name and choice.exact
            note = choice.note if name == choice.name else f"stand-in for {args.model}"
        else:
            exact = name != "claude"  # the others are the real vocabularies they are named after
            note = f"exact for {info[name].exact_for}"
        rows.append({"tokenizer": name, "kind": info[name].kind, "tokens": tokens, "exact": exact, "note": note})
    chars = sum(len(d) for d in docs)
    data = {
        "source": source,
        "chars": chars,
        "documents": len(docs),
        "model": args.model,
        "model_tokenizer": ({"name": choice.name, "exact": choice.exact, "note": choice.note} if choice else None),
        "counts": rows,
        "unavailable": [
            {"name": i.name, "reason": i.reason} for i in info.values() if not i.available and not args.tokenizer
        ],
    }
    return data, _render(data)


def _render(data: dict) -> str:
    w = max([len("tokenizer")] + [len(r["tokenizer"]) for r in data["counts"]])
    head = f"{data['chars']:,} characters"
    if data["documents"] > 1:
        head += f" in {data['documents']:,} documents"
    if data["model"]:
        head += f"; model {data['model']} -> {data['model_tokenizer']['name']}"
    lines = [head, f"{'tokenizer'.ljust(w)}  {'tokens':>10}  exact  note"]
    for r in data["counts"]:
        mark = "yes" if r["exact"] else "~"
        lines.append(f"{r['tokenizer'].ljust(w)}  {r['tokens']:>10,}  {mark:<5}  {r['note']}")
    for u in data["unavailable"]:
        lines.append(f"{u['name'].ljust(w)}  {'-':>10}  {'':<5}  unavailable: {u['reason']}")
    return "\n".join(lines)
