"""Tokenizer registry: count tokens offline with tiktoken, Claude's tokenizer and GGUF vocabularies.

Public API (imports are light; tokenizers load on first use and stay cached per process):

    list_tokenizers() -> list[TokenizerInfo]
    get(name) -> Tokenizer                         # .count(text), .encode(text), .count_batch(texts)
    register_gguf(path, name=None) -> TokenizerInfo
    tokenizer_for_model(model) -> TokenizerChoice  # (name, exact, note)
    count_text(text, model=None, tokenizer=None) -> TokenCount
    count_messages(messages, model, tools=None) -> TokenCount
    parse_messages(text) -> list; messages_text(messages) -> str
    count_many(texts, tokenizer, progress=None, workers=None) -> list[int]
    read_corpus(name, data, column=None, txt_split=True) -> list[str]
    token_tax(texts_by_language, tokenizers) -> DataFrame; load_samples() -> dict[str, str]
"""

from llmledger.tokens.chat import count_messages, messages_text, parse_messages
from llmledger.tokens.corpus import read_corpus
from llmledger.tokens.counting import TokenCount, count_many, count_text
from llmledger.tokens.models import TokenizerChoice, normalise_model, tokenizer_for_model
from llmledger.tokens.registry import (
    Tokenizer,
    TokenizerInfo,
    available_names,
    get,
    list_tokenizers,
    register_gguf,
    unregister_gguf,
)
from llmledger.tokens.tax import load_samples, token_tax

__all__ = [
    "Tokenizer",
    "TokenizerInfo",
    "TokenizerChoice",
    "TokenCount",
    "list_tokenizers",
    "available_names",
    "get",
    "register_gguf",
    "unregister_gguf",
    "tokenizer_for_model",
    "normalise_model",
    "count_text",
    "count_messages",
    "count_many",
    "parse_messages",
    "messages_text",
    "read_corpus",
    "token_tax",
    "load_samples",
]
