"""How long each dashboard page takes to render in a real browser over 1,000,000 calls.

Builds (once, cached under /tmp by schema version) the 1M-call ledger bench_calls_queries builds,
priced and with the Spend memo filled; copies it for each run; serves the app the way `make run`
does (bench/page_timing.py: llmledger.ui.launch, the embedded receiver on free loopback ports) and
opens every page in app.PAGES in headless Chromium (Debian's /usr/bin/chromium via Playwright),
each in a fresh browser context (a new tab, a new Streamlit session). For each visit it records:

- `ms`: the time from navigation start to the last DOM mutation, once the page has stopped
  changing (script state notRunning, no skeleton, spinner or "Running" badge, and no mutation for
  `--quiet-ms`). The time of the last mutation is reported, not the quiet deadline;
- `script_ms`: the server's own time for the script run(s) of that visit (ScriptRunner._run_script);
- the browser side: DOM elements, Plotly figures with the points they carry, Vega-Lite charts, dataframes, and the
  bytes the websocket delivered.

Reruns: on Calls and Spend, a filter change (an environment in the sidebar) and a group-by change,
each a value not asked before (so the queries are not already cached), timed from the click.
The floor: a one-line Streamlit page served the same way in the same run (before and after).
`make run` on an empty ledger: from starting `python -m llmledger.ui.launch` to a settled page;
`--make-run-only` also starts `streamlit run` on the one-line floor page the same way (what any
Streamlit app needs here) and writes bench/results/bench_pages_make_run.json.
References (`--references-only`, into `--out`): single components over the floor, and two rerun
floors timed after a filter change (`filters1`: the filter alone; `calls_skeleton`: the least a
Calls-like page draws, with no query behind it).
Each figure is run 1..3; the summary quotes warm runs 2 and 3 like issue #16.

A profile pass (`--profile`, or `--profile-only`) serves the app again with cProfile on every
script run and writes the second visit's profile of each page to bench/results/bench_pages_profile.txt,
with a Chrome CPU profile of the same visit (own time per script file and function).

    .venv/bin/python -m bench.bench_pages [--calls 1000000] [--runs 3] [--pages Calls,Spend] [--profile]

Results: bench/results/bench_pages.json. The machine may be shared: compare pages with the floor.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import io
import json
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_pages.json"
PROFILE_OUT = ROOT / "bench" / "results" / "bench_pages_profile.txt"
MAKE_RUN_OUT = ROOT / "bench" / "results" / "bench_pages_make_run.json"
CACHE = Path(tempfile.gettempdir()) / "llmledger-bench-pages"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
FLOOR_SCRIPT = 'import streamlit as st\n\nst.title("Floor")\n'
VISIT_TIMEOUT_S = 120.0
# What single components cost on top of the floor, served the same way (`?kind=...`): one Plotly
# bar chart of 30 points, four of them, one 200-row dataframe, three tabs of one chart each, the
# same bars in Vega-Lite and ECharts, and the pieces most pages are made of (a static table, Markdown
# lines, KPI tiles, a sidebar of filters).
REFERENCE_SCRIPT = """import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

kind = st.query_params.get("kind", "floor")
st.title(kind)
x = pd.date_range("2026-01-01", periods=30)


def chart(i):
    return go.Figure(go.Bar(x=x, y=np.arange(30) + i))


if kind == "plotly1":
    st.plotly_chart(chart(0))
if kind == "plotly4":
    for i in range(4):
        st.plotly_chart(chart(i), key=f"c{i}")
if kind == "dataframe":
    st.dataframe(pd.DataFrame({"a": np.arange(200), "b": np.arange(200) * 0.5, "c": ["x"] * 200}))
if kind == "tabs3":
    for i, tab in enumerate(st.tabs(["one", "two", "three"])):
        tab.plotly_chart(chart(i), key=f"t{i}")
if kind == "vega1":  # the same 30 bars through Streamlit's own chart element (Vega-Lite)
    st.bar_chart(pd.DataFrame({"y": np.arange(30)}, index=x))
if kind == "table":  # the dataframe's rows as a static st.table (no data grid)
    st.table(pd.DataFrame({"a": np.arange(20), "b": np.arange(20) * 0.5, "c": ["x"] * 20}))
if kind == "markdown30":  # text: thirty short Markdown lines
    for i in range(30):
        st.markdown(f"**line {i}** with `code` and a [link](https://example.com)")
if kind == "metrics8":  # eight KPI tiles in columns, each with a help tooltip
    cols = st.columns(4)
    for i in range(8):
        cols[i % 4].metric(f"metric {i}", f"${i}.00", help="what it counts")
if kind == "multiselect8":  # a filter sidebar like Calls and Spend have
    with st.sidebar:
        for i in range(8):
            st.multiselect(f"filter {i}", ["a", "b", "c"], key=f"m{i}")
if kind in ("filters1", "calls_skeleton"):  # rerun floors: a sidebar filter that reruns the page
    with st.sidebar:
        env = st.multiselect("Environment", ["production", "staging", "development"], key="env")
        if kind == "calls_skeleton":
            for i in range(5):
                st.multiselect(f"filter {i}", ["a", "b", "c"], key=f"f{i}")
    shift = len(",".join(env))  # what is drawn depends on the filter, as on Calls
    if kind == "filters1":
        st.write(f"{len(env)} chosen")
    else:  # the least a Calls-like page shows: KPI tiles, one chart, a page of the call table
        tiles = st.columns(4)
        for i in range(4):
            tiles[i].metric(f"metric {i}", f"${shift + i}.00")
        st.vega_lite_chart(
            pd.DataFrame({"day": x, "usd": np.arange(30) + shift}),
            {"mark": "bar", "encoding": {"x": {"field": "day", "type": "temporal"}, "y": {"field": "usd", "type": "quantitative"}}},
            width="stretch",
            key="chart",
        )
        n = 50
        st.dataframe(
            pd.DataFrame(
                {
                    "time": pd.date_range("2026-01-01", periods=n, freq="h"),
                    "model": ["gpt-4o"] * n,
                    "feature": ["chat"] * n,
                    "user": [f"u{i}" for i in range(n)],
                    "input": np.arange(n) + shift,
                    "output": np.arange(n) * 2,
                    "usd": np.arange(n) * 0.01 + shift,
                    "ms": np.arange(n) * 3.0,
                }
            ),
            hide_index=True,
        )
if kind == "echarts1":  # and through st.echarts_chart (Apache ECharts)
    st.echarts_chart(
        {
            "xAxis": {"type": "category", "data": [str(d.date()) for d in x]},
            "yAxis": {"type": "value"},
            "series": [{"type": "bar", "data": [int(v) for v in np.arange(30)]}],
        }
    )
"""
REFERENCES = (
    "plotly1",
    "plotly4",
    "dataframe",
    "tabs3",
    "vega1",
    "echarts1",
    "table",
    "markdown30",
    "metrics8",
    "multiselect8",
    "filters1",
    "calls_skeleton",
)
#: References also timed after a filter change (the sidebar's Environment, as on Calls and Spend):
#: `filters1` is the rerun floor (the filter and one line of text), `calls_skeleton` the least a
#: Calls-like page draws (six filters, four KPI tiles, one 30-bar Vega-Lite chart, a 50-row
#: dataframe; a script with no query).
RERUN_REFERENCES = ("filters1", "calls_skeleton")
#: Measured again with a browser context per tab (no HTTP cache, no code cache shared with the
#: tabs before): what the very first visit costs against a later fresh tab in the same browser.
COLD_REFERENCES = ("floor", "plotly1")

# Installed before any page script: remembers when the DOM last changed and counts script runs.
OBSERVE_JS = """
window.__bench = {last: 0, mutations: 0, started: 0, finished: 0, doneAt: 0};
new MutationObserver((list) => {
  window.__bench.last = performance.now();
  window.__bench.mutations += list.length;
  for (const m of list) {
    if (m.type === 'attributes' && m.attributeName === 'data-test-script-state') {
      const s = m.target.getAttribute('data-test-script-state');
      if (s === 'running') window.__bench.started += 1;
      if (s === 'notRunning') { window.__bench.finished += 1; window.__bench.doneAt = performance.now(); }
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""

STATE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const busy = !app || app.getAttribute('data-test-script-state') !== 'notRunning'
    || !!document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"]')
    || (status !== null && /Running/i.test(status.innerText || ''));
  const b = window.__bench || {last: 0, started: 0, finished: 0, mutations: 0, doneAt: 0};
  return {busy, last: b.last, now: performance.now(), started: b.started, finished: b.finished, doneAt: b.doneAt,
          mutations: b.mutations, origin: performance.timeOrigin};
}"""

DOM_STATS_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')].map((el) => {
    const data = el.data || [];
    let points = 0;
    for (const t of data) points += (t.x || t.values || t.y || []).length || 0;
    return {traces: data.length, points};
  });
  return {
    elements: document.getElementsByTagName('*').length,
    plotly: plots,
    dataframes: document.querySelectorAll('[data-testid="stDataFrame"]').length,
    vega_charts: document.querySelectorAll('[data-testid="stVegaLiteChart"]').length,
    exceptions: document.querySelectorAll('[data-testid="stException"]').length,
    tabs: document.querySelectorAll('[role="tab"]').length,
  };
}"""


# ------------------------------------------------------------------ the ledger


def app_pages() -> list[tuple[str, str]]:
    """(file, title) of each page in app.PAGES that exists, read without running app.py."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            return [(p, t) for p, t, _ in ast.literal_eval(node.value) if (ROOT / p).exists()]
    raise SystemExit("app.py has no PAGES list")


def url_path(page_file: str, pages: list[tuple[str, str]]) -> str:
    return "" if page_file == pages[0][0] else Path(page_file).stem


def _schema_key(n_calls: int) -> str:
    """The cached ledger is reused while what shapes it is unchanged: the migrations (by name: an
    applied migration never changes), the memo's schema, the builder, and the pricing code that
    resolves model names. A change elsewhere in a schema module (say, a faster way to insert the
    default rules) does not rebuild a million calls."""
    from llmledger.reads import spend_cache
    from llmledger.store.db import all_migrations

    h = hashlib.sha256(str(n_calls).encode())
    h.update(",".join(name for name, _ in all_migrations()).encode())
    h.update(spend_cache.SCHEMA.encode())
    h.update((ROOT / "bench" / "bench_calls_queries.py").read_bytes())
    src = ROOT / "src" / "llmledger"
    for name in ("sheets.py", "matching.py", "importers.py", "model.py", "engine.py"):
        h.update((src / "pricing" / name).read_bytes())
    return h.hexdigest()[:16]


def cached_ledger(n_calls: int) -> tuple[Path, dict]:
    """bench_calls_queries' ledger, priced, the active sheet's Spend memo filled, checkpointed."""
    from bench import bench_calls_queries as bcq
    from llmledger.pricing import sheets
    from llmledger.reads import spend_cache
    from llmledger.store.db import connect

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ledger-{n_calls}-{_schema_key(n_calls)}.duckdb"
    if path.exists():
        return path, {"reused": True}
    for old in CACHE.glob(f"ledger-{n_calls}-*.duckdb*"):  # its WAL and its receiver's spool too
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    info = bcq.build(tmp, n_calls)
    t0 = time.perf_counter()
    con = connect(tmp)
    spend_cache.refresh(con, sheets.get_active_sheet(con))
    con.execute("CHECKPOINT")
    con.close()
    info["memo_s"] = round(time.perf_counter() - t0, 2)
    tmp.rename(path)
    return path, {"reused": False, **info}


def add_budgets(db: Path) -> list[str]:
    """Budgets a reviewer would keep on this ledger, sized from its spend so far this month and this
    week (UTC), so the cards show real progress: all spend by month at 80% (with a forecast
    threshold), the busiest feature this week already over, and every user by week ("each")."""
    from llmledger.alerts import budgets
    from llmledger.alerts.budgets import Budget
    from llmledger.store.db import connect

    con = connect(db)
    try:
        mtd, wtd, users = con.sql(
            "SELECT sum(actual_cost_usd) FILTER (WHERE start_time >= date_trunc('month', now())), "
            "sum(actual_cost_usd) FILTER (WHERE start_time >= date_trunc('week', now())), "
            "count(DISTINCT user_id) FILTER (WHERE start_time >= date_trunc('week', now())) FROM llm_calls"
        ).fetchall()[0]
        top = con.sql(
            "SELECT feature, sum(actual_cost_usd) AS s FROM llm_calls WHERE start_time >= date_trunc('week', now()) "
            "AND feature IS NOT NULL GROUP BY 1 ORDER BY s DESC LIMIT 1"
        ).fetchall()
        feature, fwtd = top[0] if top else ("feature-0", 0)
        made = [
            Budget.build("All LLM spend", max(round(float(mtd or 0) * 1.25, 2), 1), "month", forecast_thresholds="100"),
            Budget.build(
                f"{feature} (week)", max(round(float(fwtd or 0) * 0.9, 2), 0.01), "week", where=[f"feature={feature}"]
            ),
            Budget.build(
                "Each user (week)", max(round(float(wtd or 0) / max(users or 1, 1) * 3, 4), 0.01), "week", each="user"
            ),
        ]
        for b in made:
            budgets.save(con, b)
        con.execute("CHECKPOINT")
        return [b.name for b in made]
    finally:
        con.close()


# ------------------------------------------------------------------ serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(db: Path | None, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        STREAMLIT_SERVER_ADDRESS="127.0.0.1",
        LLMLEDGER_RECEIVER="1",
        LLMLEDGER_OTLP_PORT=str(free_port()),
        LLMLEDGER_OTLP_GRPC_PORT=str(free_port()),
    )
    if db is not None:
        env["LLMLEDGER_DB"] = str(db)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Server:
    """A served app in its own process group; always stopped (by its own id)."""

    def __init__(self, cmd: list[str], env: dict, log: Path, port: int | None = None):
        self.port = port if port is not None else int(cmd[cmd.index("--port") + 1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.t_start = time.time()
        self._out = open(log.with_suffix(".out"), "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )
        _SERVERS.append(self.proc.pid)

    def wait_healthy(self, timeout_s: float = 180) -> float:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited {self.proc.returncode}: {self.log.with_suffix('.out').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.time() - self.t_start
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not answer /_stcore/health in time")

    def runs(self, since: float, until: float) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in rows if since <= r["t_end"] <= until]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._out.close()


def serve(work: Path, name: str, db: Path | None, floor: Path | None = None, profile_dir: Path | None = None) -> Server:
    log = work / f"{name}.jsonl"
    log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.page_timing", "--port", str(free_port()), "--log", str(log)]
    if floor is not None:
        cmd += ["--floor", str(floor)]
    if profile_dir is not None:
        cmd += ["--profile-dir", str(profile_dir)]
    server = Server(cmd, _env(db), log)
    server.wait_healthy()
    return server


# ------------------------------------------------------------------ the browser side


def settle(page, quiet_ms: float, runs_before: int | None = None, timeout_s: float = VISIT_TIMEOUT_S) -> dict:
    """Poll until the page is idle and the DOM has been quiet for `quiet_ms`; the state then."""
    deadline = time.time() + timeout_s
    while True:
        state = page.evaluate(STATE_JS)
        ran = runs_before is None or state["finished"] > runs_before
        if not state["busy"] and ran and state["now"] - state["last"] >= quiet_ms:
            return state
        if time.time() > deadline:
            state["timed_out"] = True
            return state
        page.wait_for_timeout(50)


_TICK = os.sysconf("SC_CLK_TCK")


def browser_cpu_s(exclude: tuple[int, ...] = ()) -> float:
    """CPU seconds (user + system) used so far by this process's Chromium: every descendant
    process except the served apps' (`exclude`: their process group leaders). Unlike wall times,
    this hardly grows when other work shares the cores."""
    parent, cpu = {}, {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(d.name)] = int(fields[1])
        cpu[int(d.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    total, me = 0.0, os.getpid()
    for pid in cpu:
        p, chain = pid, []
        while p in parent and p not in (me, 0, 1) and p not in exclude:
            chain.append(p)
            p = parent[p]
        if p == me and pid != me:
            total += cpu[pid]
    return total


_SERVERS: list[int] = []  # process group leaders of the served apps (not the browser's CPU)


def _ws_counter(page) -> dict:
    box = {"bytes": 0, "frames": 0}

    def on_ws(ws):
        def on_frame(payload):
            box["bytes"] += len(payload)
            box["frames"] += 1

        ws.on("framereceived", on_frame)

    page.on("websocket", on_ws)
    return box


def _dom_stats(page) -> dict:
    s = page.evaluate(DOM_STATS_JS)
    s["plotly_points"] = sum(p["points"] for p in s["plotly"])
    return s


def new_tab(browser, cold: bool = False):
    """A new tab (a new Streamlit session) in the run's shared browser context, whose HTTP cache
    holds the app's scripts like a real browser's; `cold` gives it a context of its own."""
    global _CONTEXT
    if cold:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        ctx.add_init_script(OBSERVE_JS)
        return ctx.new_page(), ctx
    if _CONTEXT is None or _CONTEXT[0] is not browser:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        ctx.add_init_script(OBSERVE_JS)
        _CONTEXT = (browser, ctx)
    return _CONTEXT[1].new_page(), None


_CONTEXT = None
COLD = False


def _js_summary(prof: dict, top: int = 8) -> dict:
    """A Chrome CPU profile as milliseconds of own time per script file and per function."""
    nodes = {n["id"]: n["callFrame"] for n in prof["nodes"]}
    own: dict[int, float] = {}
    for sid, delta in zip(prof["samples"], prof["timeDeltas"]):
        own[sid] = own.get(sid, 0.0) + delta / 1000
    by_file: dict[str, float] = {}
    by_fn: dict[str, float] = {}
    for nid, ms in own.items():
        cf = nodes[nid]
        where = cf["url"].rsplit("/", 1)[-1] or cf["functionName"] or "(native)"
        by_file[where] = by_file.get(where, 0.0) + ms
        fn = f"{cf['functionName'] or '(top level)'} in {where}"
        by_fn[fn] = by_fn.get(fn, 0.0) + ms
    best = sorted(by_file.items(), key=lambda kv: -kv[1])[: top + 2]
    return {
        "by_file_ms": {k: round(v) for k, v in best},
        "by_function_ms": {k: round(v) for k, v in sorted(by_fn.items(), key=lambda kv: -kv[1])[:top]},
    }


def visit(browser, server: Server, path: str, quiet_ms: float, action=None, js_profile: bool = False) -> dict:
    """One fresh tab on `path`. With `action(page)` (which returns a callable doing the final
    click), the figure is the rerun that click starts, timed from the click."""
    page, own_ctx = new_tab(browser, COLD)
    ws = _ws_counter(page)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    t_wall = time.time()
    cpu0 = browser_cpu_s(tuple(_SERVERS))
    if js_profile:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
    try:
        page.goto(f"{server.base}/{path}", timeout=VISIT_TIMEOUT_S * 1000)
        state = settle(page, quiet_ms)
        js = _js_summary(cdp.send("Profiler.stop")["profile"]) if js_profile else None
        # ms: navigation start -> last DOM change; script_done_ms: -> the script's last run ended
        out = {"ms": round(state["last"], 1), "script_done_ms": round(state["doneAt"], 1)}
        if state.get("timed_out"):
            out["timed_out"] = True
        if action is not None:
            page.set_default_timeout(30_000)
            click = action(page)
            page.wait_for_timeout(quiet_ms)  # the dropdown's own mutations settle first
            before = page.evaluate(STATE_JS)
            cpu0 = browser_cpu_s(tuple(_SERVERS))
            t_click = time.time()
            click()
            after = settle(page, quiet_ms, runs_before=before["finished"], timeout_s=60)
            out = {
                "fresh_ms": out["ms"],
                "ms": round(after["last"] - before["now"], 1),
                "script_done_ms": round(after["doneAt"] - before["now"], 1),
            }
            if after.get("timed_out"):
                out["timed_out"] = True
            t_wall = t_click
        runs = server.runs(t_wall, time.time() + 0.5)
        out["script_ms"] = round(sum(r["script_s"] for r in runs) * 1000, 1)
        out["script_cpu_ms"] = round(sum(r.get("script_cpu_s", 0) for r in runs) * 1000, 1)
        out["browser_cpu_total_ms"] = round((browser_cpu_s(tuple(_SERVERS)) - cpu0) * 1000, 1)
        out["script_runs"] = len(runs)
        out.update(_dom_stats(page))
        out["ws_bytes"] = ws["bytes"]
        if js is not None:
            out["js_profile"] = js
        # The tab's own CPU time (Chromium's Performance domain): JS, layout, style, all tasks.
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        out["browser_cpu_ms"] = {
            k: round(metrics.get(m, 0) * 1000, 1)
            for k, m in (
                ("script", "ScriptDuration"),
                ("layout", "LayoutDuration"),
                ("style", "RecalcStyleDuration"),
                ("tasks", "TaskDuration"),
            )
        }
        return out
    finally:
        page.close()
        if own_ctx is not None:
            own_ctx.close()


def measure_navigation(browser, server: Server, pages, quiet_ms: float, rounds: int) -> dict[str, list[dict]]:
    """Pages reached from the sidebar in one tab (how people move around: the browser keeps the
    scripts it loaded, Plotly's included), timed from the click to the last DOM change."""
    page, own_ctx = new_tab(browser, COLD)
    out: dict[str, list[dict]] = {title: [] for _, title in pages}
    try:
        page.goto(f"{server.base}/{url_path(pages[-1][0], pages)}", timeout=VISIT_TIMEOUT_S * 1000)
        settle(page, quiet_ms)
        for _ in range(rounds):
            for page_file, title in pages:
                try:
                    path = url_path(page_file, pages)
                    link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first
                    before = page.evaluate(STATE_JS)
                    cpu0 = browser_cpu_s(tuple(_SERVERS))
                    t_click = time.time()
                    link.click(timeout=30_000)
                    after = settle(page, quiet_ms, runs_before=before["finished"], timeout_s=90)
                    runs = server.runs(t_click, time.time() + 0.5)
                    out[title].append(
                        {
                            "ms": round(after["last"] - before["now"], 1),
                            "script_ms": round(sum(r["script_s"] for r in runs) * 1000, 1),
                            "script_cpu_ms": round(sum(r.get("script_cpu_s", 0) for r in runs) * 1000, 1),
                            "browser_cpu_total_ms": round((browser_cpu_s(tuple(_SERVERS)) - cpu0) * 1000, 1),
                            **({"timed_out": True} if after.get("timed_out") else {}),
                        }
                    )
                except Exception as exc:
                    out[title].append({"ms": None, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    finally:
        page.close()
        if own_ctx is not None:
            own_ctx.close()
    return out


def _pick_environment(value: str):
    def action(page):
        box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(has_text="Environment")
        box.click()
        page.keyboard.type(value)  # narrows the open list to that value
        page.get_by_role("option", name=value, exact=True).wait_for()
        return lambda: page.keyboard.press("Enter")

    return action


def _group_by(label: str):
    def action(page):
        group = page.locator('[data-testid="stMain"] [data-testid="stButtonGroup"]').first
        return group.locator("button").filter(has_text=re.compile(f"^{re.escape(label)}$")).first.click

    return action


RERUNS = {
    "filter": [_pick_environment(v) for v in ("production", "staging", "development")],
    "group_by": [_group_by(v) for v in ("Team", "Model", "Service")],
}


def _warm(runs: list[dict]) -> list[float]:
    """Warm runs 2.. of a page (all of them when there is only one)."""
    ms = [r["ms"] for r in runs if not r.get("timed_out") and not r.get("error")]
    return ms[1:] if len(ms) > 1 else ms


def _visit_safe(*args, **kw) -> dict:
    try:
        return visit(*args, **kw)
    except Exception as exc:  # a page another change broke: recorded, the bench goes on
        return {"ms": None, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def measure_floor(browser, work: Path, runs: int, quiet_ms: float) -> list[dict]:
    floor = work / "floor_app.py"
    floor.write_text(FLOOR_SCRIPT)
    server = serve(work, "floor", None, floor=floor)
    try:
        return [_visit_safe(browser, server, "", quiet_ms) for _ in range(runs)]
    finally:
        server.stop()


def measure_references(browser, work: Path, runs: int, quiet_ms: float) -> dict[str, list[dict]]:
    script = work / "reference_app.py"
    script.write_text(REFERENCE_SCRIPT)
    server = serve(work, "reference", None, floor=script)
    try:
        _visit_safe(browser, server, "?kind=plotly1", quiet_ms)  # the first visit imports plotly
        out = {k: [_visit_safe(browser, server, f"?kind={k}", quiet_ms) for _ in range(runs)] for k in REFERENCES}
        for k in RERUN_REFERENCES:
            out[f"{k}: filter"] = [
                _visit_safe(browser, server, f"?kind={k}", quiet_ms, action=a) for a in RERUNS["filter"][:runs]
            ]
        global COLD
        warm, COLD = COLD, True
        try:
            for k in COLD_REFERENCES:
                out[f"{k} (new context)"] = [_visit_safe(browser, server, f"?kind={k}", quiet_ms) for _ in range(runs)]
        finally:
            COLD = warm
        return out
    finally:
        server.stop()


def measure_make_run(
    browser, work: Path, runs: int, quiet_ms: float, same_port: bool = False, floor: bool = False
) -> list[dict]:
    """`make run` on an empty ledger: command start -> a settled first page, `runs` times, each on
    a new port (the browser has none of Streamlit's scripts cached for it). `same_port`: every run
    on one port, like a person reopening http://localhost:8501: Streamlit serves its hashed bundles
    as immutable, so from the second run on the browser's cache holds them (run 1 fills it).
    `floor`: the same for `streamlit run` of the one-line floor page (no ledger, no receiver), what
    any Streamlit app takes to start and draw on this machine."""
    out = []
    one_port = free_port() if same_port else None
    script = work / "floor_app.py"
    script.write_text(FLOOR_SCRIPT)
    tag = ("-floor" if floor else "") + ("-same-port" if same_port else "")
    for i in range(runs):
        db = work / f"empty-{i}{tag}" / "ledger.duckdb"
        db.parent.mkdir(parents=True, exist_ok=True)
        port = one_port or free_port()
        log = work / f"make-run-{i}{tag}.jsonl"
        t0 = time.time()
        cmd = [sys.executable, "-m", "llmledger.ui.launch", "--port", str(port)]
        if floor:
            cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)]
            cmd += ["--server.headless", "true"]
        server = Server(cmd, _env(db), log, port=port)
        try:
            healthy_s = server.wait_healthy()
            page, own_ctx = new_tab(browser, COLD)
            try:
                page.goto(server.base + "/", timeout=VISIT_TIMEOUT_S * 1000)
                state = settle(page, quiet_ms)
                usable = (state["origin"] + state["last"]) / 1000 - t0
                out.append({"ms": round(usable * 1000, 1), "healthy_ms": round(healthy_s * 1000, 1)})
            finally:
                page.close()
                if own_ctx is not None:
                    own_ctx.close()
        except Exception as exc:
            out.append({"ms": None, "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
        finally:
            server.stop()
    return out


# ------------------------------------------------------------------ profiles


PACKAGES = ("llmledger", "app_pages", "streamlit", "plotly", "pandas", "duckdb", "pyarrow", "numpy", "narwhals")


def _package(filename: str, fn: str) -> str:
    """Which package a profiled function's own time belongs to (C functions by their name)."""
    f = filename.replace("\\", "/")
    if f == "~":  # a builtin or C extension method: '<method 'execute' of 'duckdb...' objects>'
        if "acquire" in fn or "wait" in fn or "sleep" in fn:
            return "waiting (locks, sleeps)"
        for key in PACKAGES:
            if key in fn:
                return key
        return "builtins"
    for key in PACKAGES:
        if f"/{key}/" in f:
            return key
    if "site-packages" in f:
        return f.split("site-packages/")[1].split("/")[0]
    return "python stdlib"


def summarize_profile(prof: Path, top: int = 22) -> dict:
    st = pstats.Stats(str(prof))
    by_pkg: dict[str, float] = {}
    for (filename, _line, fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        key = _package(filename, fn)
        by_pkg[key] = by_pkg.get(key, 0.0) + tt
    out = {"total_s": round(st.total_tt, 3)}
    out["self_time_by_package_s"] = {k: round(v, 3) for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]}
    for sort, pattern, n, name in (
        (
            "cumulative",
            r"llmledger|app_pages|plotly/(graph_objs/_figure|basedatatypes.py:.*update)|streamlit/elements",
            top,
            "top_cumulative",
        ),
        ("tottime", "", 12, "top_self"),
    ):
        buf = io.StringIO()
        st.stream = buf
        st.sort_stats(sort).print_stats(*([pattern] if pattern else []), n)
        lines = [
            ln.replace(str(ROOT) + "/", "").replace(sys.prefix + "/lib/python3.11/site-packages/", "")
            for ln in buf.getvalue().splitlines()
        ]
        out[name] = [ln for ln in lines if ln.strip() and ("(" in ln or "ncalls" in ln) and "function calls" not in ln]
    return out


def profile_pages(browser, work: Path, db: Path, pages, quiet_ms: float) -> dict:
    pdir = work / "profiles"
    shutil.rmtree(pdir, ignore_errors=True)
    server = serve(work, "profiled", db, profile_dir=pdir)
    out = {}
    try:
        for page_file, title in pages:
            path = url_path(page_file, pages)
            _visit_safe(browser, server, path, quiet_ms)
            second = _visit_safe(browser, server, path, quiet_ms, js_profile=True)
            runs = [r for r in server.runs(0, time.time() + 1) if r["page"] == path and r.get("profile")]
            if len(runs) >= 2:
                out[title] = summarize_profile(pdir / runs[-1]["profile"])
                out[title]["browser_js"] = second.get("js_profile")
                (CACHE / "profiles").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(pdir / runs[-1]["profile"], CACHE / "profiles" / f"{path or 'root'}.prof")
    finally:
        server.stop()
    with open(PROFILE_OUT, "w") as fh:
        for title, s in out.items():
            fh.write(f"== {title}: {s['total_s']} s in the script (cProfile, second visit)\n")
            fh.write("self time by package: " + json.dumps(s["self_time_by_package_s"]) + "\n")
            fh.write("\n".join(s["top_cumulative"]) + "\n")
            fh.write("by own time:\n" + "\n".join(s["top_self"]) + "\n")
            js = s.get("browser_js") or {}
            fh.write(
                "browser, fresh tab (Chrome CPU profile, ms of own time): " + json.dumps(js.get("by_file_ms")) + "\n"
            )
            fh.write("browser functions: " + json.dumps(js.get("by_function_ms"), ensure_ascii=False) + "\n\n")
    return out


# ------------------------------------------------------------------ main


def _reference_summary(floor_warm: list[float], refs: dict[str, list[dict]]) -> dict:
    """Warm runs of each reference page, and its median over the floor's (what one component costs)."""
    base = statistics.median(floor_warm) if floor_warm else None
    out = {"floor": {"warm_ms": floor_warm}}
    for k, runs in refs.items():
        warm = _warm(runs)
        if k.endswith(": filter"):  # a rerun, timed from the click: against the rerun target
            out[k] = {
                "warm_ms": warm,
                "script_ms": [r.get("script_ms") for r in runs[1:]],
                "browser_cpu_ms": [r.get("browser_cpu_total_ms") for r in runs[1:]],
                "meets_rerun_target": bool(warm and max(warm) <= 500),
            }
            continue
        out[k] = {
            "warm_ms": warm,
            "browser_script_ms": [r.get("browser_cpu_ms", {}).get("script") for r in runs[1:]],
            "browser_cpu_ms": [r.get("browser_cpu_total_ms") for r in runs[1:]],
            "ratio_to_floor": round(statistics.median(warm) / base, 2) if warm and base else None,
        }
    return out


def _spread(values: list[float]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    lo, hi = min(vals) / 1000, max(vals) / 1000
    return f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quiet-ms", type=float, default=500)
    ap.add_argument("--pages", help="comma-separated page titles (default: every page in app.PAGES)")
    ap.add_argument("--profile", action="store_true", help="also profile each page's script (cProfile)")
    ap.add_argument("--skip-make-run", action="store_true")
    ap.add_argument("--skip-references", action="store_true")
    ap.add_argument("--references-only", action="store_true", help="only the floor and single-component pages")
    ap.add_argument("--profile-only", action="store_true", help="only the profile pass (no timings written)")
    ap.add_argument("--make-run-only", action="store_true", help="only `make run` on an empty ledger (printed)")
    ap.add_argument("--cold", action="store_true", help="each tab in a browser context of its own (no HTTP cache)")
    ap.add_argument(
        "--with-budgets",
        action="store_true",
        help="define a few budgets in the run's ledger (whole, per feature, each user) so Budgets draws its cards",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    global COLD
    COLD = args.cold
    pages = app_pages()
    chosen = [p for p in pages if not args.pages or p[1] in args.pages.split(",")]
    t_build = time.perf_counter()
    ledger, ledger_info = (None, {}) if args.references_only else cached_ledger(args.calls)
    ledger_info["ready_s"] = round(time.perf_counter() - t_build, 1)
    print(f"ledger {ledger} ({ledger_info})", flush=True)
    load_start = os.getloadavg()[0]
    result: dict = {
        "calls": args.calls,
        "runs": args.runs,
        "quiet_ms": args.quiet_ms,
        "http_cache": "none (a context per tab)" if args.cold else "shared by the run's tabs, like one browser",
        "ledger": ledger_info,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "shared": True},
        "load_average_1m_start": load_start,
    }
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp, sync_playwright() as pw:
        work = Path(tmp)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            if args.references_only:
                floor_only = measure_floor(browser, work, args.runs, args.quiet_ms)
                refs = measure_references(browser, work, args.runs, args.quiet_ms)
                out = {**result, "floor": {"before": floor_only}, "references": refs}
                out["summary"] = _reference_summary(_warm(floor_only), refs)
                args.out.write_text(json.dumps(out, indent=2) + "\n")
                print(json.dumps(out["summary"], indent=1))
                return out
            if args.make_run_only:
                runs = measure_make_run(browser, work, args.runs, args.quiet_ms)
                cached = measure_make_run(browser, work, args.runs + 1, args.quiet_ms, same_port=True)
                bare = measure_make_run(browser, work, args.runs, args.quiet_ms, floor=True)
                bare_cached = measure_make_run(browser, work, args.runs + 1, args.quiet_ms, same_port=True, floor=True)
                print(json.dumps(runs))
                print("same port (browser cache from the run before):", json.dumps(cached))
                print("`streamlit run` of the floor page:", json.dumps(bare))
                print("the same, same port:", json.dumps(bare_cached))
                out = {
                    "make_run_empty_ledger": runs,
                    "make_run_empty_ledger_same_port": cached,
                    "streamlit_run_floor_page": bare,
                    "streamlit_run_floor_page_same_port": bare_cached,
                    "load_average_1m_end": os.getloadavg()[0],
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                MAKE_RUN_OUT.write_text(json.dumps(out, indent=2) + "\n")
                return out
            if args.profile_only:
                db2 = work / "ledger-profiled.duckdb"
                shutil.copyfile(ledger, db2)
                profiles = profile_pages(browser, work, db2, chosen, args.quiet_ms)
                print(PROFILE_OUT.read_text())
                return {"profiles": profiles}
            # The floor stays served all along: each page visit follows a floor visit, so every
            # page has a floor measured under the same load (the machine may be shared).
            floor_script = work / "floor_app.py"
            floor_script.write_text(FLOOR_SCRIPT)
            floor_server = serve(work, "floor", None, floor=floor_script)
            floor_before = [_visit_safe(browser, floor_server, "", args.quiet_ms) for _ in range(args.runs)]
            print(f"floor: {[r['ms'] for r in floor_before]}", flush=True)
            references = {} if args.skip_references else measure_references(browser, work, args.runs, args.quiet_ms)
            print(f"references: { {k: [r['ms'] for r in v] for k, v in references.items()} }", flush=True)

            db = work / "ledger.duckdb"
            shutil.copyfile(ledger, db)
            if args.with_budgets:
                result["budgets"] = add_budgets(db)
            server = serve(work, "app", db)
            page_runs: dict[str, list[dict]] = {}
            page_floors: dict[str, list[dict]] = {}
            reruns: dict[str, list[dict]] = {}
            navigation: dict[str, list[dict]] = {}

            def partial() -> None:  # what is measured so far, in case a later stage fails
                snap = {**result, "partial": True, "floor": {"before": floor_before}, "pages": page_runs}
                args.out.write_text(json.dumps({**snap, "reruns": reruns}, indent=2) + "\n")

            try:
                # The server's first script run imports everything once: not a page's figure.
                _visit_safe(browser, server, url_path(pages[0][0], pages), args.quiet_ms)
                for page_file, title in chosen:
                    path = url_path(page_file, pages)
                    page_runs[title], page_floors[title] = [], []
                    for _ in range(args.runs):
                        page_floors[title].append(_visit_safe(browser, floor_server, "", args.quiet_ms))
                        page_runs[title].append(_visit_safe(browser, server, path, args.quiet_ms))
                    print(
                        f"{title}: {[r['ms'] for r in page_runs[title]]} (floor {[r['ms'] for r in page_floors[title]]})"
                    )
                    partial()
                for page_file, title in chosen:
                    if title not in ("Calls", "Spend"):
                        continue
                    path = url_path(page_file, pages)
                    for kind, actions in RERUNS.items():
                        key = f"{title}: {kind}"
                        reruns[key] = [
                            _visit_safe(browser, server, path, args.quiet_ms, action=a) for a in actions[: args.runs]
                        ]
                        print(f"{key}: {[r['ms'] for r in reruns[key]]}", flush=True)
                        partial()
                navigation = measure_navigation(browser, server, chosen, args.quiet_ms, args.runs)
                print(f"navigation: { {k: [r['ms'] for r in v] for k, v in navigation.items()} }", flush=True)
            finally:
                server.stop()

            floor_after = [_visit_safe(browser, floor_server, "", args.quiet_ms) for _ in range(args.runs)]
            floor_server.stop()
            print(f"floor after: {[r['ms'] for r in floor_after]}", flush=True)
            make_run = [] if args.skip_make_run else measure_make_run(browser, work, args.runs, args.quiet_ms)
            print(f"make run (empty ledger): {[r['ms'] for r in make_run]}", flush=True)
            make_run_cached = (
                [] if args.skip_make_run else measure_make_run(browser, work, args.runs + 1, args.quiet_ms, True)
            )
            print(f"make run, same port (browser cache): {[r['ms'] for r in make_run_cached]}", flush=True)

            profiles = {}
            if args.profile:
                db2 = work / "ledger-profiled.duckdb"
                shutil.copyfile(ledger, db2)
                profiles = profile_pages(browser, work, db2, chosen, args.quiet_ms)
        finally:
            browser.close()

    floor_warm = _warm(floor_before) + _warm(floor_after)
    floor_ms = statistics.median(floor_warm) if floor_warm else None
    summary = {}
    for title, runs in page_runs.items():
        warm = _warm(runs)
        scripts = [r.get("script_ms") for r in runs[1:] if r.get("script_ms") is not None]
        med = statistics.median(warm) if warm else None
        adjacent = _warm(page_floors.get(title, []))
        near = statistics.median(adjacent) if adjacent else None
        summary[title] = {
            "warm_ms": warm,
            "adjacent_floor_ms": adjacent,
            "ratio_to_adjacent_floor": round(med / near, 2) if med and near else None,
            "warm_script_ms": scripts,
            "warm_browser_script_ms": [r.get("browser_cpu_ms", {}).get("script") for r in runs[1:]],
            "warm_script_cpu_ms": [r.get("script_cpu_ms") for r in runs[1:]],
            "warm_browser_cpu_ms": [r.get("browser_cpu_total_ms") for r in runs[1:]],
            "ratio_to_floor": round(med / floor_ms, 2) if med and floor_ms else None,
            "meets_target": bool(
                med is not None and (med <= 1500 or ((near or floor_ms) and med <= 2 * (near or floor_ms)))
            ),
        }
    for key, runs in reruns.items():
        warm = _warm(runs)
        summary[key] = {
            "warm_ms": warm,
            "warm_script_ms": [r.get("script_ms") for r in runs[1:]],
            "warm_script_cpu_ms": [r.get("script_cpu_ms") for r in runs[1:]],
            "warm_browser_cpu_ms": [r.get("browser_cpu_total_ms") for r in runs[1:]],
            "meets_target": bool(warm and max(warm) <= 500),
        }
    for title, runs in navigation.items():
        warm = _warm(runs)
        summary[f"{title} (from the sidebar)"] = {
            "warm_ms": warm,
            "warm_script_ms": [r.get("script_ms") for r in runs[1:]],
            "warm_script_cpu_ms": [r.get("script_cpu_ms") for r in runs[1:]],
            "warm_browser_cpu_ms": [r.get("browser_cpu_total_ms") for r in runs[1:]],
        }
    make_warm = _warm(make_run)
    result.update(
        {
            "floor": {"before": floor_before, "after": floor_after, "warm_median_ms": floor_ms},
            "references": references,
            "references_summary": _reference_summary(floor_warm, references),
            "pages": page_runs,
            "page_floors": page_floors,
            "reruns": reruns,
            "navigation": navigation,
            "make_run_empty_ledger": {
                "runs": make_run,
                "warm_ms": make_warm,
                "meets_target": bool(make_warm and max(make_warm) <= 3000),
            },
            # Runs 2.. on one port: the browser's cache holds Streamlit's immutable bundles.
            "make_run_empty_ledger_same_port": {
                "runs": make_run_cached,
                "cached_ms": _warm(make_run_cached),
                "meets_target": bool(_warm(make_run_cached) and max(_warm(make_run_cached)) <= 3000),
            },
            "summary": summary,
            "profiles": profiles,
            "targets": {
                "fresh_tab": "<= 1500 ms or <= 2x the floor",
                "rerun": "<= 500 ms",
                "make_run_empty_ledger": "<= 3000 ms",
            },
            "load_average_1m_end": os.getloadavg()[0],
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    cols = ("fresh tab s", "x floor", "script s", "script CPU s", "browser CPU s")
    print(f"\n{'page (warm runs)':24s} " + " ".join(f"{c:>13s}" for c in cols))
    floor_cpu = [r.get("browser_cpu_total_ms") for r in floor_before[1:] + floor_after[1:]]
    print(f"{'floor':24s} {_spread(floor_warm):>13s} {'1':>13s} {'':>13s} {'':>13s} {_spread(floor_cpu):>13s}")
    for title, s in summary.items():
        ratio = str(s.get("ratio_to_adjacent_floor") or "")
        vals = [_spread(s["warm_ms"]), ratio, _spread(s["warm_script_ms"]), _spread(s.get("warm_script_cpu_ms", []))]
        vals.append(_spread(s.get("warm_browser_cpu_ms", [])))
        print(f"{title:24s} " + " ".join(f"{v:>13s}" for v in vals))
    print(f"{'make run, empty ledger':24s} {_spread(make_warm):>12s}")
    print(f"{'make run, same port':24s} {_spread(_warm(make_run_cached)):>12s}")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
