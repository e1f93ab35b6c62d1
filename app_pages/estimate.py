"""Estimate: count tokens of a prompt, messages or corpus per tokenizer; price it per model and sheet;
project a monthly bill; see the token tax of other languages."""

import streamlit as st

from llmledger import tokens
from llmledger.pricing.estimate import bill_frame, check_plan
from llmledger.ui import estimate_widgets, money_charts, sheet_widgets, vega
from llmledger.ui import format as fmt
from llmledger.ui.common import page_setup, show_errors

page_setup("Estimate", "🧮")
st.title("🧮 Estimate")
st.caption(
    "Token counts come from local tokenizers, so every figure here is an **estimate** of what a provider "
    "would bill; each row says which tokenizer counted and whether it is the model's own."
)

DEFAULT_MODELS = ["gpt-4o-mini", "gpt-4o", "claude-haiku-4-5"]
KEEP = "page"  # widgets keep their values while another (lazy) tab is open, as when every tab ran
CORPUS = "_est_corpus_file"  # the last corpus read: (name, bytes, file_id), kept while another tab is open


def forget_corpus() -> None:
    """A new upload, or the file removed from the uploader: the kept corpus goes."""
    st.session_state.pop(CORPUS, None)


def count_tab() -> None:
    sheet_names = sheet_widgets.sheet_names()
    known = sheet_widgets.model_options(sheet_widgets.view_sheet())
    c1, c2 = st.columns([3, 2])
    models = c1.multiselect(
        "Models",
        known,
        default=[m for m in DEFAULT_MODELS if m in known],
        accept_new_options=True,
        key="est_models",
        persist_state=KEEP,
    )
    chosen_sheets = c2.multiselect(
        "Price sheets", sheet_names, default=[sheet_widgets.view_sheet()], key="est_sheets", persist_state=KEEP
    )
    mode = st.radio(
        "Input", ["Prompt text", "Messages JSON", "Corpus file"], horizontal=True, key="est_mode", persist_state=KEEP
    )
    available = tokens.available_names()
    c3, c4 = st.columns([3, 2])
    tok_names = c3.multiselect(
        "Tokenizers to compare",
        available,
        default=[t for t in ("o200k_base", "cl100k_base", "claude") if t in available],
        key="est_tokenizers",
        persist_state=KEEP,
    )
    out_per_req = c4.number_input(
        "Output tokens per request (your assumption)", value=300, step=50, key="est_output_tokens", persist_state=KEEP
    )
    check_plan(1, 0, out_per_req, 0, 1)

    per_model, per_tok, requests = None, None, 1
    if mode == "Prompt text":
        text = st.text_area("Prompt", height=160, key="est_text", persist_state=KEEP, placeholder="Paste a prompt…")
        if text.strip():
            per_tok = estimate_widgets.count_tokenizers(text, tuple(tok_names))
            per_model = estimate_widgets.count_for_models(text, tuple(models))
    elif mode == "Messages JSON":
        raw = st.text_area(
            "Messages (OpenAI chat format)",
            height=160,
            key="est_messages",
            persist_state=KEEP,
            placeholder='[{"role": "system", "content": "…"}, {"role": "user", "content": "…"}]',
        )
        if raw.strip():
            per_model = estimate_widgets.count_for_models(raw, tuple(models), messages=True)
            per_tok = estimate_widgets.count_tokenizers(
                tokens.messages_text(tokens.parse_messages(raw)), tuple(tok_names)
            )
            st.caption(
                "Per-model counts include the chat framing (tokens per message and reply priming); the "
                "per-tokenizer comparison counts the message contents only."
            )
    else:
        up = st.file_uploader(
            "Corpus: .txt (documents split at blank lines), .csv, .jsonl or .json",
            type=["txt", "md", "csv", "jsonl", "ndjson", "json"],
            key="est_corpus",
            on_change=forget_corpus,
        )
        corpus = (up.name, up.getvalue(), up.file_id) if up is not None else st.session_state.get(CORPUS)
        if up is None and corpus is not None:  # read before another tab was opened: the uploader forgot it
            note, forget = st.columns([5, 1], vertical_alignment="center")
            note.caption(
                f"{fmt.plain_markdown(corpus[0])} was uploaded before another tab was opened and is still "
                "counted; upload a file to replace it."
            )
            forget.button("Forget it", key="est_corpus_forget", on_click=forget_corpus)
        if corpus is not None:
            name, body, file_id = corpus
            docs = tokens.read_corpus(name, body)
            st.session_state[CORPUS] = corpus  # only a file that reads
            requests = len(docs)
            st.write(
                f"**{fmt.count(requests)} documents** in {fmt.plain_markdown(name)}; each is priced as one request."
            )
            choices = {m: tokens.tokenizer_for_model(m) for m in models}
            needed = sorted(set(tok_names) | {c.name for c in choices.values()})
            key = (file_id, tuple(needed))
            if st.session_state.get("_est_corpus_key") != key:
                st.session_state["_est_corpus_totals"] = estimate_widgets.count_corpus(docs, needed, "Counting corpus")
                st.session_state["_est_corpus_key"] = key
            totals = st.session_state["_est_corpus_totals"]
            per_tok = estimate_widgets.corpus_tokenizer_frame(totals, tok_names)
            per_model = estimate_widgets.corpus_model_frame(totals, choices)

    if per_tok is not None:
        left, right = st.columns([2, 3])
        vega.show(left, money_charts.tokens_by_tokenizer(per_tok), key="est_fig_tokens")
        right.dataframe(per_tok, hide_index=True, key="est_tok_table")
    if per_model is not None and not per_model.empty:
        st.subheader("Per model")
        st.dataframe(
            per_model,
            hide_index=True,
            key="est_model_table",
            column_config={"tokenizer_is": st.column_config.TextColumn("Tokenizer is")},
        )
        rows = [
            (r.model, r.tokens, requests, r.tokenizer, r.tokenizer_is == estimate_widgets.OWN)
            for r in per_model.itertuples()
        ]
        costs = estimate_widgets.cost_table(rows, out_per_req, chosen_sheets)
        vega.show(
            st,
            money_charts.cost_per_model(
                costs,
                f"Estimated cost per model and sheet ({fmt.count(requests)} request(s), "
                f"{fmt.count(out_per_req)} output tokens each)",
            ),
            key="est_fig_cost",
        )
        st.dataframe(
            costs,
            hide_index=True,
            key="est_cost_table",
            column_config={
                "cost_usd": st.column_config.NumberColumn("Cost (estimate)", format="$%.6f"),
                "per_request_usd": st.column_config.NumberColumn("Per request", format="$%.6f"),
            },
        )
        st.caption(
            "Input tokens are counted locally (an estimate of billed usage); output tokens are your "
            "assumption. A model a sheet has no price for shows no cost, never $0."
        )
    elif per_tok is None:
        st.info("Paste a prompt or messages, or upload a corpus, to see token counts and costs.")


def bill_tab() -> None:
    known = sheet_widgets.model_options(sheet_widgets.view_sheet())
    b1, b2 = st.columns(2)
    model = b1.selectbox(
        "Model",
        known,
        index=known.index("gpt-4o-mini") if "gpt-4o-mini" in known else 0,
        accept_new_options=True,
        key="bill_model",
        persist_state=KEEP,
    )
    sheet = b2.selectbox("Price sheet", sheet_widgets.sheet_names(), key="bill_sheet", persist_state=KEEP)
    n1, n2, n3 = st.columns(3)
    req = n1.number_input(
        "Requests per month", value=100_000.0, step=1000.0, format="%.0f", key="bill_requests", persist_state=KEEP
    )
    n_in = n2.number_input(
        "Input tokens per request", value=1500.0, step=100.0, format="%.0f", key="bill_input", persist_state=KEEP
    )
    n_out = n3.number_input(
        "Output tokens per request", value=300.0, step=50.0, format="%.0f", key="bill_output", persist_state=KEEP
    )
    s1, s2, s3, s4 = st.columns(4)
    cached = s1.slider("Cached input share", 0, 100, 0, format="%d%%", key="bill_cached", persist_state=KEEP)
    batch = s2.slider("Batch share", 0, 100, 0, format="%d%%", key="bill_batch", persist_state=KEEP)
    growth = s3.number_input("Monthly growth %", value=0.0, step=1.0, key="bill_growth", persist_state=KEEP)
    months = s4.number_input("Months", value=12, step=1, key="bill_months", persist_state=KEEP)
    check_plan(req, n_in, n_out, growth, months)
    b = estimate_widgets.bill(model, sheet, n_in, n_out, req, cached / 100, batch / 100, growth, months)
    for w in b.warnings:  # the model's context window / max output, from the sheet
        st.warning(fmt.plain_markdown(w), icon=":material/warning:")
    frame = bill_frame(b).round({"requests": 0})  # growth makes fractions of a request
    m1, m2, m3 = st.columns(3)
    m1.metric(f"Total over {fmt.plural(int(months), 'month')}", fmt.usd(b.total_usd))
    m2.metric("First month", fmt.usd(b.first_month_usd))
    m3.metric("Last month", fmt.usd(b.months[-1].total_usd))
    st.caption(
        f"Priced as **{fmt.plain_markdown(b.priced_model)}** on **{fmt.plain_markdown(b.sheet)}** "
        f"({b.match_kind} match). "
        f"Cost = requests × (uncached input × input price + cached input × cache-read price + output × "
        f"output price), batch share at the sheet's batch prices; requests grow {growth:g}% a month. "
        + fmt.plain_markdown(" ".join(b.notes))
    )
    vega.show(st, money_charts.monthly_bill(frame, f"Projected bill: {model} on {sheet}"), key="bill_fig")
    st.dataframe(frame, hide_index=True, key="bill_table", column_config=estimate_widgets.BILL_COLUMNS)


def tax_tab() -> None:
    st.caption(
        "The same short paragraph in ten languages (data/token_tax). A ratio of 1.8 means the message "
        "costs 80% more tokens — and so 80% more money — than in English under that tokenizer."
    )
    names = st.multiselect(
        "Tokenizers",
        tokens.available_names(),
        key="tax_tokenizers",
        persist_state=KEEP,
        default=[t for t in ("o200k_base", "cl100k_base", "claude") if t in tokens.available_names()],
    )
    if names:
        tax = estimate_widgets.token_tax_table(tuple(names))
        vega.show(st, money_charts.token_tax(tax), key="tax_fig")
        st.dataframe(
            tax,
            hide_index=True,
            key="tax_table",
            column_config={
                "ratio_vs_english": st.column_config.NumberColumn("× English", format="%.2f"),
                "extra_vs_english": st.column_config.NumberColumn("Extra cost vs English", format="percent"),
            },
        )
    else:
        st.info("Choose at least one tokenizer.")


tab_count, tab_bill, tab_tax = st.tabs(
    ["Count & price", "Monthly bill", "Token tax"], key="est_tab", on_change="rerun"
)  # only the open tab runs
for tab, draw in ((tab_count, count_tab), (tab_bill, bill_tab), (tab_tax, tax_tab)):
    if tab.open:
        with tab, show_errors():
            draw()
