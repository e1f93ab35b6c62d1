-- The llm_calls view as migration p002 created it in the first pricing release (commit e0fa357,
-- src/llmledger/pricing/engine.py rendered with the active-sheet subquery). A ledger made then keeps
-- this SQL until store/db.py re-creates the view from the current code on open.
CREATE OR REPLACE VIEW llm_calls AS 
WITH sel AS (SELECT (SELECT coalesce(max(value), 'litellm') FROM settings WHERE key = 'active_sheet') AS sheet, CAST(NULL AS TIMESTAMPTZ) AS as_of),
vers AS (
    SELECT v.version_id, v.sheet, v.effective_from,
           lead(v.effective_from) OVER (ORDER BY v.effective_from) AS effective_to
    FROM price_versions v JOIN sel ON v.sheet = sel.sheet
),
base AS (
    SELECT c.*, coalesce(c.request_model, '') AS k_req, coalesce(c.response_model, '') AS k_resp, coalesce(c.provider, '') AS k_prov,
           c.input_tokens AS t_in, c.output_tokens AS t_out, CAST(NULL AS VARCHAR) AS token_mapping,
           coalesce(sel.as_of, c.start_time, TIMESTAMPTZ '9999-12-31') AS price_at
    FROM calls c CROSS JOIN sel 
    
),
j AS (
    SELECT b.*, v.sheet AS price_sheet, v.version_id AS price_version, r.model_id AS priced_model,
           r.match_kind, p.input_mtok, p.output_mtok, p.cache_read_mtok, p.cache_write_mtok,
           p.reasoning_mtok, p.request_usd AS request_fee,
           greatest(coalesce(b.t_in, 0) - coalesce(b.cache_read_tokens, 0) - coalesce(b.cache_write_tokens, 0), 0) AS n_uncached,
           coalesce(b.cache_read_tokens, 0) AS n_cr, coalesce(b.cache_write_tokens, 0) AS n_cw,
           CASE WHEN p.reasoning_mtok IS NULL THEN 0 ELSE least(coalesce(b.reasoning_tokens, 0), coalesce(b.t_out, 0)) END AS n_rs,
           r.model_id IS NULL OR p.model_id IS NULL AS price_missing
    FROM base b
    LEFT JOIN vers v ON b.price_at >= v.effective_from AND (v.effective_to IS NULL OR b.price_at < v.effective_to)
    LEFT JOIN price_resolution r ON r.version_id = v.version_id AND r.request_model = b.k_req
         AND r.response_model = b.k_resp AND r.provider = b.k_prov
    LEFT JOIN model_prices p ON p.version_id = v.version_id AND p.model_id = r.model_id
         AND p.service_tier = 'standard'
         AND (p.above_input_tokens = 0 OR coalesce(b.t_in, 0) > p.above_input_tokens)
         AND (p.upto_input_tokens IS NULL OR coalesce(b.t_in, 0) <= p.upto_input_tokens)
),
x AS (
    SELECT j.*,
        CASE WHEN n_uncached = 0 THEN 0 ELSE n_uncached * input_mtok * CAST(0.000001 AS DECIMAL(7, 6)) END AS x_in,
        CASE WHEN n_cr = 0 THEN 0 ELSE n_cr * coalesce(cache_read_mtok, input_mtok) * CAST(0.000001 AS DECIMAL(7, 6)) END
          + CASE WHEN n_cw = 0 THEN 0 ELSE n_cw * coalesce(cache_write_mtok, input_mtok) * CAST(0.000001 AS DECIMAL(7, 6)) END AS x_cache,
        CASE WHEN coalesce(t_out, 0) - n_rs = 0 THEN 0 ELSE (coalesce(t_out, 0) - n_rs) * output_mtok * CAST(0.000001 AS DECIMAL(7, 6)) END
          + CASE WHEN n_rs = 0 THEN 0 ELSE n_rs * reasoning_mtok * CAST(0.000001 AS DECIMAL(7, 6)) END AS x_out,
        coalesce(request_fee, 0) AS x_req,
        price_missing OR (t_in IS NULL AND t_out IS NULL AND request_fee IS NULL) AS x_null
    FROM j
)
SELECT trace_id, span_id, parent_span_id, start_time, duration_ms,
       service, environment, feature, team, user_id, session_id,
       provider, operation, request_model, response_model,
       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
       usage_source, convention, status, reported_cost_usd,
       CASE WHEN x_null THEN NULL ELSE CAST(x_in + x_cache + x_out + x_req AS DECIMAL(18, 9)) END AS cost_usd,
       is_demo,
       CASE WHEN x_null THEN NULL ELSE CAST(x_in AS DECIMAL(18, 9)) END AS input_cost_usd,
       CASE WHEN x_null THEN NULL ELSE CAST(x_cache AS DECIMAL(18, 9)) END AS cache_cost_usd,
       CASE WHEN x_null THEN NULL ELSE CAST(x_out AS DECIMAL(18, 9)) END AS output_cost_usd,
       CASE WHEN x_null THEN NULL ELSE CAST(x_req AS DECIMAL(18, 9)) END AS request_cost_usd,
       price_missing,
       CASE WHEN x_null THEN NULL ELSE CAST(x_in + x_cache + x_out + x_req AS DECIMAL(18, 9)) END
         - reported_cost_usd AS cost_diff_usd,
       price_sheet, price_version, priced_model, match_kind, token_mapping, t_in AS priced_input_tokens,
       t_out AS priced_output_tokens
FROM x
