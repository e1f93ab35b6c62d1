"""Which tokenizer counts a model's tokens, and whether that count is the billed one.

Model names arrive in many spellings: provider prefixes (`openai/gpt-4o`), dated snapshots
(`gpt-4o-2024-08-06`), Bedrock ids (`us.anthropic.claude-3-5-sonnet-20241022-v2:0`), Vertex
paths (`projects/p/.../models/gemini-1.5-pro`, `claude-3-5-sonnet-v2@20241022`), fine-tunes
(`ft:gpt-4o-mini-2024-07-18:org::id`), Ollama tags (`llama3.1:8b`) and GGUF paths. They are
normalised first, then matched against family rules. A model without a published tokenizer gets
the closest one available, labelled as an approximation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from llmledger.errors import TokenizerError
from llmledger.tokens import registry

FALLBACK = "o200k_base"


@dataclass(frozen=True)
class TokenizerChoice:
    name: str  # registry name, usable with registry.get()
    exact: bool  # True when counts match what the provider bills for plain text
    note: str


_BEDROCK_REGION = re.compile(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.")
_BEDROCK_VENDOR = re.compile(r"^(anthropic|meta|amazon|cohere|mistral|ai21|deepseek|qwen|openai|writer|twelvelabs)\.")
_SUFFIXES = (
    re.compile(r"-v\d+:\d+$"),  # bedrock '-v2:0'
    re.compile(r":\d+$"),  # bedrock ':0'
    re.compile(r"-(latest|preview|exp)$"),
    re.compile(r"-(\d{8})(-v\d+)?$"),  # '-20241022', '-20241022-v2'
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # '-2024-08-06'
    re.compile(r"-(0301|0314|0613|1106|0125|2402|2407|2411|2501|2503|2506)$"),  # MMDD / YYMM tags
)


def normalise_model(model: str) -> str:
    """Lower-case family name of a model id: provider, region, version and date stripped."""
    if not isinstance(model, str) or not model.strip():
        raise TokenizerError("model name is empty")
    m = model.strip().lower()
    if m.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org:suffix:id
        m = m[3:].split(":")[0]
    m = m.rstrip("/").split("/")[-1]  # provider prefix, vertex/fireworks paths, file paths
    m = m.removesuffix(".gguf")
    m = m.split("@")[0]  # vertex 'claude-3-5-sonnet-v2@20241022'
    m = _BEDROCK_REGION.sub("", m)
    m = _BEDROCK_VENDOR.sub("", m)
    m = m.replace("gpt-35-", "gpt-3.5-")  # Azure spelling
    for _ in range(2):  # e.g. '-2402-v1:0' needs two passes
        for rx in _SUFFIXES:
            m = rx.sub("", m)
    return m


_CLAUDE3_NOTE = (
    "Anthropic has not published the tokenizer of Claude 3 and later; litellm's Claude 1/2 "
    "tokenizer is an approximation (Anthropic's count_tokens endpoint gives exact figures)"
)
_OPEN_WEIGHTS_NOTE = (
    "{family}'s tokenizer is not bundled with LLM Ledger; o200k_base is a stand-in "
    "(register the model's GGUF for an exact count)"
)

# (pattern on the normalised name, tokenizer, exact, note); first match wins.
RULES: list[tuple[re.Pattern, str, bool, str]] = [
    (re.compile(p), t, e, n)
    for p, t, e, n in [
        (
            r"^gpt-oss",
            "o200k_base",
            True,
            "gpt-oss uses o200k_harmony: o200k_base plus chat special tokens, identical on text",
        ),
        (
            r"^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|codex-mini|computer-use"
            r"|gpt-realtime|gpt-audio|gpt-image|omni-moderation)",
            "o200k_base",
            True,
            "OpenAI o200k_base family",
        ),
        (
            r"^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002|davinci-002|babbage-002)",
            "cl100k_base",
            True,
            "OpenAI cl100k_base family",
        ),
        (
            r"^(text-davinci-00[23]|code-davinci|code-cushman|text-davinci-edit|code-search)",
            "p50k_base",
            True,
            "OpenAI p50k_base family",
        ),
        (
            r"^(text-davinci-001|text-(curie|babbage|ada)|davinci|curie|babbage|ada)\b",
            "r50k_base",
            True,
            "OpenAI r50k_base family (GPT-3)",
        ),
        (r"^claude-(1|2|instant)", "claude", True, "Anthropic's published Claude 1/2 tokenizer"),
        (r"^claude", "claude", False, _CLAUDE3_NOTE),
        (r"^gemma-?3(?!n)", "gemma3", True, "Gemma 3's own vocabulary (shared by every size)"),
        (
            r"^gemma",
            "gemma3",
            False,
            "another Gemma generation; Gemma 3's vocabulary as a stand-in (close, not identical)",
        ),
        (
            r"^(gemini|palm|chat-bison|text-bison)",
            "gemma3",
            False,
            "Google has not published Gemini's tokenizer; Gemma 3's SentencePiece vocabulary is "
            "the closest public relative",
        ),
        (r"^smollm2", "smollm2", True, "SmolLM2's own vocabulary (shared by every size)"),
        (r"^smollm", "smollm2", False, "another SmolLM generation; SmolLM2's vocabulary as a stand-in"),
    ]
]

_OPEN_FAMILIES = re.compile(
    r"^(meta-)?(llama|codellama|mistral|mixtral|codestral|ministral|pixtral|magistral|devstral"
    r"|qwen|qwq|deepseek|phi|command|c4ai|aya|grok|jamba|nova|titan|yi|glm|chatglm|kimi|moonshot"
    r"|granite|olmo|falcon|starcoder|sonar|ernie|hunyuan|minimax|nemotron|dbrx|solar|internlm)"
)


def _family(normalised: str) -> str:
    m = re.match(r"[a-z]+", normalised)
    return m.group(0) if m else normalised


def _from_registered(normalised: str, raw: str) -> TokenizerChoice | None:
    """A GGUF registered at run time: exact for its own name, an approximation for its family."""
    regs = registry.registered_ggufs()
    raw_l = raw.strip().lower()
    for name, path in regs.items():
        if normalised == name or raw_l == str(path).lower() or normalised == normalise_model(name):
            return TokenizerChoice(name, True, f"the vocabulary of registered GGUF {path.name}")
    fam = _family(normalised)
    for name, path in regs.items():
        if len(fam) >= 3 and _family(normalise_model(name)) == fam:
            return TokenizerChoice(
                name, False, f"vocabulary of {name}, another {fam} model (may differ between versions)"
            )
    return None


@lru_cache(maxsize=4096)
def tokenizer_for_model(model: str) -> TokenizerChoice:
    """The tokenizer to count `model`'s tokens with; `exact` says whether it is the model's own."""
    m = normalise_model(model)
    if registry.BUILTINS.get(m, ("",))[0] == "tiktoken" and registry.is_available(m):
        return TokenizerChoice(m, True, "tokenizer named directly")  # e.g. 'cl100k_base'
    reg = _from_registered(m, model)
    if reg is not None:
        return reg
    for rx, name, exact, note in RULES:
        if rx.search(m):
            return _available_or_fallback(TokenizerChoice(name, exact, note))
    if _OPEN_FAMILIES.search(m):
        return _available_or_fallback(TokenizerChoice(FALLBACK, False, _OPEN_WEIGHTS_NOTE.format(family=_family(m))))
    return _available_or_fallback(
        TokenizerChoice(FALLBACK, False, f"unknown model '{model.strip()}'; o200k_base as a stand-in")
    )


def _available_or_fallback(choice: TokenizerChoice) -> TokenizerChoice:
    if registry.is_available(choice.name):
        return choice
    why = next((i.reason for i in registry.list_tokenizers() if i.name == choice.name), "")
    if choice.name == "r50k_base" and registry.is_available("p50k_base"):
        return TokenizerChoice(
            "p50k_base",
            False,
            f"r50k_base unavailable ({why}); p50k_base differs from it only on runs of spaces",
        )
    return TokenizerChoice(FALLBACK, False, f"{choice.name} unavailable ({why}); o200k_base as a stand-in")


# The mapping depends on which GGUF tokenizers are registered: forget it when that changes.
registry.on_change.append(tokenizer_for_model.cache_clear)
