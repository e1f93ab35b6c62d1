"""The token tax: the same message costs more tokens in some languages than in English."""

from __future__ import annotations

from pathlib import Path

from llmledger.config import PROJECT_ROOT
from llmledger.errors import TokenizerError
from llmledger.tokens import registry

SAMPLES_DIR = PROJECT_ROOT / "data" / "token_tax"
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "hi": "Hindi",
    "ar": "Arabic",
    "ko": "Korean",
}


def load_samples(directory: Path | None = None) -> dict[str, str]:
    """{language name: paragraph} from data/token_tax (the same paragraph in each language)."""
    d = Path(directory) if directory else SAMPLES_DIR
    out = {}
    for code, lang in LANGUAGES.items():
        f = d / f"{code}.txt"
        if f.is_file():
            out[lang] = f.read_text(encoding="utf-8").strip()
    if not out:
        raise TokenizerError(f"no token-tax samples in {d}")
    return out


def token_tax(texts_by_language: dict[str, str], tokenizers: list[str]):
    """A long DataFrame: language, tokenizer, chars, tokens, ratio_vs_english.

    `ratio_vs_english` is tokens / the English text's tokens under the same tokenizer, so 1.8
    means the same message costs 80% more in that language.
    """
    import pandas as pd  # only this function needs pandas

    if not texts_by_language:
        raise TokenizerError("no texts given")
    base_key = next((k for k in texts_by_language if k.lower() in ("english", "en")), None)
    if base_key is None:
        raise TokenizerError("the texts need an English version to compare against")
    if not tokenizers:
        raise TokenizerError("no tokenizers given")
    rows = []
    for name in tokenizers:
        tok = registry.get(name)
        base = tok.count(texts_by_language[base_key])
        for lang, text in texts_by_language.items():
            n = tok.count(text)
            rows.append(
                {
                    "language": lang,
                    "tokenizer": tok.name,
                    "chars": len(text),
                    "tokens": n,
                    "ratio_vs_english": n / base if base else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["language", "tokenizer", "chars", "tokens", "ratio_vs_english"])
