"""The cost engine: one pure function for a single usage, and the SQL that prices `calls`.

Token semantics (OTel GenAI): input_tokens includes cache reads and writes, output_tokens includes
reasoning. So for one call, with the sheet's row for its service tier and long-context tier:

    uncached input  = input - cache_read - cache_write          x input price
    cache reads     x cache_read price   (no such price: the input price, never $0)
    cache writes    x cache_write price  (5 min; 1 h writes x cache_write_1h price)
    output          = output - reasoning x output price, reasoning x reasoning price when the sheet
                      prices reasoning apart (otherwise reasoning is simply part of output)
    + the per-request fee

Every part is exact (integer femto-dollars in SQL, Decimal in Python); cost_usd rounds the sum
half up to DECIMAL(18,9). A part with tokens but no price makes the cost NULL (Python: raises).

Actual cost (ACTUAL_COST_RULE) is defined once, here, in the SQL: per call `actual_cost_usd` and
`cost_basis` ('computed' | 'reported' | 'unpriced'). Every read sums those, under a sheet it
passes explicitly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import duckdb

from llmledger.errors import PricingError
from llmledger.pricing.model import ModelEntry, PriceRow

NANO = Decimal("0.000000001")
MILLION = Decimal(1_000_000)


@dataclass
class Usage:
    input_tokens: int = 0  # includes cache reads and writes
    output_tokens: int = 0  # includes reasoning
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0  # 5-minute writes (or writes of unknown TTL)
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 1


@dataclass
class CostBreakdown:
    input_usd: Decimal
    cache_read_usd: Decimal
    cache_write_usd: Decimal
    output_usd: Decimal
    reasoning_usd: Decimal
    request_usd: Decimal
    row: PriceRow = field(repr=False)

    @property
    def cache_usd(self) -> Decimal:
        return self.cache_read_usd + self.cache_write_usd

    @property
    def exact_total(self) -> Decimal:
        return (
            self.input_usd
            + self.cache_read_usd
            + self.cache_write_usd
            + self.output_usd
            + self.reasoning_usd
            + self.request_usd
        )

    @property
    def total(self) -> Decimal:
        """Rounded like llm_calls.cost_usd: DECIMAL(18,9), half away from zero."""
        return self.exact_total.quantize(NANO, rounding=ROUND_HALF_UP)

    def as_dict(self) -> dict:
        return {
            "input_usd": self.input_usd,
            "cache_read_usd": self.cache_read_usd,
            "cache_write_usd": self.cache_write_usd,
            "output_usd": self.output_usd,
            "reasoning_usd": self.reasoning_usd,
            "request_usd": self.request_usd,
            "total_usd": self.total,
        }


def _part(tokens: int, price: Decimal | None, what: str) -> Decimal:
    if tokens == 0:
        return Decimal(0)
    if price is None:
        raise PricingError(f"the sheet has no {what} price for {tokens} {what} tokens")
    return tokens * price / MILLION


def cost_of_usage(price: PriceRow | ModelEntry, usage: Usage, service_tier: str = "standard") -> CostBreakdown:
    """Cost of one usage under one model's prices (a ModelEntry picks the service tier and the
    long-context row from the call's total input tokens)."""
    for name in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "reasoning_tokens",
        "requests",
    ):
        if getattr(usage, name) < 0:
            raise PricingError(f"{name} is negative ({getattr(usage, name)})")
    if isinstance(price, ModelEntry):
        row = price.row(service_tier, usage.input_tokens)
        if row is None:
            raise PricingError(f"model {price.model_id!r} has no {service_tier} price")
    else:
        row = price
    cached = usage.cache_read_tokens + usage.cache_write_tokens + usage.cache_write_1h_tokens
    if cached > usage.input_tokens:
        raise PricingError(
            f"cache tokens ({cached}) exceed input tokens ({usage.input_tokens}); "
            "input_tokens must include cache reads and writes"
        )
    uncached = usage.input_tokens - cached
    reasoning_apart = min(usage.reasoning_tokens, usage.output_tokens) if row.reasoning_mtok is not None else 0
    fallback_in = row.input_mtok
    return CostBreakdown(
        input_usd=_part(uncached, row.input_mtok, "input"),
        cache_read_usd=_part(
            usage.cache_read_tokens,
            row.cache_read_mtok if row.cache_read_mtok is not None else fallback_in,
            "cache read",
        ),
        cache_write_usd=_part(
            usage.cache_write_tokens,
            row.cache_write_mtok if row.cache_write_mtok is not None else fallback_in,
            "cache write",
        )
        + _part(usage.cache_write_1h_tokens, row.cache_write_1h_mtok, "1-hour cache write"),
        output_usd=_part(usage.output_tokens - reasoning_apart, row.output_mtok, "output"),
        reasoning_usd=_part(reasoning_apart, row.reasoning_mtok, "reasoning"),
        request_usd=(row.request_usd or Decimal(0)) * usage.requests,
        row=row,
    )


# --------------------------------------------------------------------------- SQL

#: The sheet in use until another is made active: LiteLLM's bundled map (DESIGN.md).
DEFAULT_SHEET = "litellm"
#: The settings row naming the active sheet (read and written only by pricing/sheets.py).
ACTIVE_KEY = "active_sheet"
ACTIVE_SHEET_SQL = f"(SELECT coalesce(max(value), '{DEFAULT_SHEET}') FROM settings WHERE key = '{ACTIVE_KEY}')"

#: What "actual cost" means on every page, in the CLI, budgets and what-ifs. The SQL below is its
#: only implementation: `actual_cost_usd` and `cost_basis` per call.
ACTUAL_COST_RULE = (
    "Actual cost = the cost computed from the price sheet; where the sheet cannot price a call (its "
    "model has no price, or the call reported no token usage), the cost its instrumentation reported, "
    "labelled as reported. Calls with neither are unpriced: counted and listed, never added as $0."
)
COST_BASES = ("computed", "reported", "unpriced")

# {sheet} / {as_of}: a bound parameter or, for the view, the active-sheet subquery and NULL.
# {swap_join} / {where}: empty, or joins/filters whose values are bound parameters.
# {in_expr} etc.: the token columns (scaled for model swaps).
#
# Arithmetic is exact and in integers, because DuckDB rounds wide DECIMALs slowly: a price of
# DECIMAL(18,9) USD per 1M tokens is an integer number of femto-dollars (1e-15 USD) per token, so
# tokens x price is an exact BIGINT of femto-dollars; the sum is rounded half up to nano-dollars
# and becomes DECIMAL(18,9). Calls above MAX_TOKENS tokens (garbage) get a NULL cost rather than an
# overflow; importers refuse prices above $30,000 per 1M tokens for the same reason.
PRICED_CALLS_TEMPLATE = """
WITH sel AS (SELECT {sheet} AS sheet, CAST({as_of} AS TIMESTAMPTZ) AS as_of),
vers AS (
    SELECT v.version_id, v.sheet, v.effective_from,
           coalesce(lead(v.effective_from) OVER (ORDER BY v.effective_from), TIMESTAMPTZ 'infinity') AS effective_to
    FROM price_versions v JOIN sel ON v.sheet = sel.sheet
),
prices AS (
    SELECT r.version_id, v.sheet, v.effective_from, v.effective_to, r.request_model, r.response_model,
           r.provider, r.model_id, r.match_kind, p.above_input_tokens,
           coalesce(p.upto_input_tokens, 9223372036854775807) AS upto_input_tokens,
           CAST(CAST(p.input_mtok AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS f_in, CAST(CAST(p.output_mtok AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS f_out,
           CAST(CAST(coalesce(p.cache_read_mtok, p.input_mtok) AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS f_cr,
           CAST(CAST(coalesce(p.cache_write_mtok, p.input_mtok) AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS f_cw,
           CAST(CAST(p.reasoning_mtok AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS f_rs,
           CAST(CAST(p.request_usd AS DECIMAL(38, 9)) * 1000000000 AS BIGINT) AS nano_req
    FROM price_resolution r JOIN vers v ON v.version_id = r.version_id
    JOIN model_prices p ON p.version_id = r.version_id AND p.model_id = r.model_id AND p.service_tier = 'standard'
),
base AS (
    SELECT c.*, {model_req} AS k_req, {model_resp} AS k_resp, {model_prov} AS k_prov,
           {in_expr} AS t_in, {out_expr} AS t_out, {token_mapping} AS token_mapping,
           coalesce(sel.as_of, c.start_time, TIMESTAMPTZ '9999-12-31') AS price_at
    FROM calls c CROSS JOIN sel {swap_join}
    {where}
),
j AS (
    SELECT b.*, p.sheet AS price_sheet, p.version_id AS price_version,
           p.model_id AS priced_model, p.match_kind, p.f_in, p.f_out, p.f_cr, p.f_cw, p.f_rs, p.nano_req,
           greatest(coalesce(b.t_in, 0) - coalesce(b.cache_read_tokens, 0) - coalesce(b.cache_write_tokens, 0), 0) AS n_uncached,
           coalesce(b.cache_read_tokens, 0) AS n_cr, coalesce(b.cache_write_tokens, 0) AS n_cw,
           CASE WHEN p.f_rs IS NULL THEN 0 ELSE least(coalesce(b.reasoning_tokens, 0), coalesce(b.t_out, 0)) END AS n_rs,
           p.model_id IS NULL AS price_missing
    FROM base b
    LEFT JOIN prices p ON p.request_model = b.k_req AND p.response_model = b.k_resp AND p.provider = b.k_prov
         AND b.price_at >= p.effective_from AND b.price_at < p.effective_to
         AND (p.above_input_tokens = 0 OR coalesce(b.t_in, 0) > p.above_input_tokens)
         AND coalesce(b.t_in, 0) <= p.upto_input_tokens
),
x AS (
    SELECT j.*,
        CASE WHEN n_uncached = 0 THEN 0 ELSE n_uncached * f_in END AS x_in,
        CASE WHEN n_cr = 0 THEN 0 ELSE n_cr * f_cr END + CASE WHEN n_cw = 0 THEN 0 ELSE n_cw * f_cw END AS x_cache,
        CASE WHEN coalesce(t_out, 0) - n_rs = 0 THEN 0 ELSE (coalesce(t_out, 0) - n_rs) * f_out END
          + CASE WHEN n_rs = 0 THEN 0 ELSE n_rs * f_rs END AS x_out,
        coalesce(nano_req, 0) AS x_req,
        price_missing OR (t_in IS NULL AND t_out IS NULL AND nano_req IS NULL)
          OR greatest(coalesce(t_in, 0), coalesce(t_out, 0)) > {max_tokens} AS x_null
    FROM j
)
SELECT trace_id, span_id, parent_span_id, start_time, duration_ms,
       service, environment, feature, team, user_id, session_id,
       provider, operation, request_model, response_model,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
       usage_source, convention, status, reported_cost_usd,
       {cost} AS cost_usd,
       is_demo,
       {in_cost} AS input_cost_usd,
       {cache_cost} AS cache_cost_usd,
       {out_cost} AS output_cost_usd,
       {req_cost} AS request_cost_usd,
       price_missing,
       {cost} - reported_cost_usd AS cost_diff_usd,
       price_sheet, price_version, priced_model, match_kind, token_mapping, t_in AS priced_input_tokens,
       t_out AS priced_output_tokens,
       -- The one definition of actual cost (ACTUAL_COST_RULE). A swapped call's reported cost was
       -- for another model, so a what-if never falls back to it.
       CASE WHEN NOT x_null THEN {cost} WHEN token_mapping IS NULL THEN reported_cost_usd END AS actual_cost_usd,
       CASE WHEN NOT x_null THEN 'computed' WHEN token_mapping IS NULL AND reported_cost_usd IS NOT NULL
            THEN 'reported' ELSE 'unpriced' END AS cost_basis
FROM x
"""
MAX_TOKENS = 100_000_000


def _nano(expr: str) -> str:
    """nano-dollars (BIGINT) -> DECIMAL(18,9) without a slow wide-decimal rounding; NULL when x_null."""
    return f"(CASE WHEN x_null THEN NULL ELSE CAST({expr} AS DECIMAL(18, 0)) * CAST(0.000000001 AS DECIMAL(10, 9)) END)"


_COSTS = dict(
    cost=_nano("(x_in + x_cache + x_out + 500000) // 1000000 + x_req"),
    in_cost=_nano("(x_in + 500000) // 1000000"),
    cache_cost=_nano("(x_cache + 500000) // 1000000"),
    out_cost=_nano("(x_out + 500000) // 1000000"),
    req_cost=_nano("x_req"),
)
_PLAIN = dict(
    model_req="coalesce(c.request_model, '')",
    model_resp="coalesce(c.response_model, '')",
    model_prov="coalesce(c.provider, '')",
    in_expr="c.input_tokens",
    out_expr="c.output_tokens",
    token_mapping="CAST(NULL AS VARCHAR)",
    swap_join="",
)


def query_arrow(cur, sql: str, params: list | None = None):
    """The rows of `sql` as an Arrow table, through `execute` on the cursor: a relation
    (`cur.sql(...)`) binds the statement once to learn its columns and again to run it, and for the
    pricing query that second bind is 12-16 ms of planning on every call (bench/bench_alerts_floor.py).
    DuckDB 2.0 warns that DB-API Arrow output copies the rows once more: for these results (grouped
    figures, one load's calls) the copy costs less than the bind it saves."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Arrow output on a DB-API result", UserWarning)
        return cur.execute(sql, params or []).to_arrow_table()


def query_frame(con, sql: str, params: list | None = None):
    """A DataFrame keeping DECIMAL money as Decimal (through Arrow, not float64)."""
    return query_arrow(con, sql, params).to_pandas()


def _render(sheet: str, as_of: str, where: str = "", **over) -> str:
    parts = dict(_PLAIN, **over)
    return PRICED_CALLS_TEMPLATE.format(sheet=sheet, as_of=as_of, where=where, max_tokens=MAX_TOKENS, **_COSTS, **parts)


def create_llm_calls_view(con: duckdb.DuckDBPyConnection, temporary: bool = False) -> None:
    """The contract view: every DESIGN.md column, cost_usd under the active sheet (settings), plus
    actual_cost_usd and cost_basis. Derived from this code, so store/db.py re-creates it on every
    open; `temporary` shadows a stored one for a read-only connection."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    con.execute(f"CREATE OR REPLACE {kind} llm_calls AS " + _render(ACTIVE_SHEET_SQL, "NULL"))


def priced_calls_sql(
    sheet: str, as_of=None, period: tuple | None = None, calls_where: tuple[str, list] | None = None
) -> tuple[str, list]:
    """(sql, params) pricing every call under `sheet`: at each call's start_time, or with the
    version in effect at `as_of` for all calls. Same columns as llm_calls. `calls_where`: an extra
    (predicate over `calls` columns as c.*, params), e.g. the calls of recent loads by load_seq."""
    where, params = _period_where(period)
    if calls_where:
        pred, extra = calls_where
        where = f"{where} AND ({pred})" if where else f"WHERE ({pred})"
        params = params + list(extra)
    return _render("?", "?", where=where), [sheet, as_of] + params


def _period_where(period: tuple | None) -> tuple[str, list]:
    if not period:
        return "", []
    start, end = period
    return (
        "WHERE (CAST(? AS TIMESTAMPTZ) IS NULL OR c.start_time >= ?) AND (CAST(? AS TIMESTAMPTZ) IS NULL OR c.start_time < ?)",
        [start, start, end, end],
    )
