"""/metrics on the receiver's port: scraped over real HTTP after real SDK spans were loaded, parsed
with prometheus_client's own parser, and checked against SQL over `llm_calls`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from llmledger.alerts import budgets, metrics
from llmledger.alerts.budgets import Budget
from llmledger.telemetry import demo
from llmledger.telemetry.service import Service

PB = {"Content-Type": "application/x-protobuf"}


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value} from a text exposition."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def named(snap: dict, name: str) -> dict[tuple, float]:
    return {labels: v for (n, labels), v in snap.items() if n == name}


def send_demo(svc: Service, n_calls: int, seed: int) -> None:
    now = datetime.now(UTC)
    for _, _, body in demo.generate_batches(n_calls=n_calls, days=20, seed=seed, now=now, traces_per_batch=200):
        r = requests.post(f"http://127.0.0.1:{svc.port}/v1/traces", data=body, headers=PB, timeout=30)
        assert r.status_code == 200, r.content
    assert svc.wait_idle(60)


@pytest.fixture
def served(con, db_path, tmp_path):
    clock = FakeClock()
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool")
    collector = metrics.attach(svc, con, clock=clock)
    svc.start()
    svc.collector = collector
    yield svc, clock
    collector.warm(wait=120)
    svc.stop()


def scrape(svc: Service, **kw) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{svc.port}/metrics", timeout=60, **kw)


def fresh_scrape(svc: Service) -> requests.Response:
    """A scrape after the collector read the ledger again (scrapes themselves never wait for a read)."""
    assert svc.collector.warm(wait=120)
    return scrape(svc)


def test_scrape_equals_the_sql_sums(served, con):
    svc, clock = served
    send_demo(svc, 600, seed=5)
    budgets.save(con, Budget.build("All spend", 50, "month"))
    budgets.save(con, Budget.build("Support", 5, "week", where=["feature=demo-support-chat"]))
    budgets.save(con, Budget.build("Per team", 2, "day", each="team"))

    r = fresh_scrape(svc)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=")
    snap = samples(r.text)
    cur = con.cursor()
    rows = cur.execute(
        """SELECT coalesce(feature, ''), coalesce(team, ''), coalesce(request_model, response_model, ''),
                  coalesce(provider, ''), count(*), coalesce(sum(actual_cost_usd), 0)::DOUBLE,
                  count_if(cost_basis = 'unpriced'), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
           FROM llm_calls GROUP BY ALL"""
    ).fetchall()
    assert len(rows) > 5
    spend, calls = named(snap, "llmledger_spend_usd_total"), named(snap, "llmledger_calls_total")
    tokens, unpriced = named(snap, "llmledger_tokens_total"), named(snap, "llmledger_unpriced_calls_total")
    assert len(spend) == len(rows)
    for feature, team, model, provider, n, usd, n_unpriced, tin, tout in rows:
        key = (("feature", feature), ("model", model), ("provider", provider), ("team", team))
        assert spend[key] == pytest.approx(usd, abs=1e-9)
        assert calls[key] == n and unpriced[key] == n_unpriced
        assert tokens[tuple(sorted(key + (("direction", "input"),)))] == tin
        assert tokens[tuple(sorted(key + (("direction", "output"),)))] == tout
    total = cur.execute("SELECT sum(actual_cost_usd)::DOUBLE FROM llm_calls").fetchone()[0]
    assert sum(spend.values()) == pytest.approx(total, rel=1e-12) and total > 0

    # Budgets: spend this period from SQL, utilisation, a P10 <= P50 <= P90 forecast.
    month = cur.execute(
        """SELECT coalesce(sum(actual_cost_usd), 0)::DOUBLE FROM llm_calls
           WHERE start_time >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"""
    ).fetchone()[0]
    lab = (("budget", "All spend"), ("member", ""), ("period", "month"), ("unit", "usd"))
    assert named(snap, "llmledger_budget_amount")[lab] == 50
    assert named(snap, "llmledger_budget_spent")[lab] == pytest.approx(month, abs=1e-6)
    assert named(snap, "llmledger_budget_utilisation_ratio")[lab] == pytest.approx(month / 50, abs=1e-6)
    q = {
        dict(k)["quantile"]: v
        for k, v in named(snap, "llmledger_budget_forecast").items()
        if dict(k)["budget"] == "All spend"
    }
    assert set(q) == {"0.1", "0.5", "0.9"} and q["0.1"] <= q["0.5"] <= q["0.9"] and q["0.5"] >= month - 1e-6
    assert named(snap, "llmledger_budget_forecast_utilisation_ratio")[lab] == pytest.approx(q["0.5"] / 50)
    teams = {dict(k)["member"] for k in named(snap, "llmledger_budget_spent") if dict(k)["budget"] == "Per team"}
    today = set(
        r[0]
        for r in cur.execute(
            """SELECT DISTINCT team FROM llm_calls WHERE team IS NOT NULL
           AND start_time >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"""
        ).fetchall()
    )
    assert teams == today
    states = named(snap, "llmledger_budget_state")
    assert sum(v for k, v in states.items() if dict(k)["budget"] == "Support") == 1

    # Receiver and loader health, as Service.stats() says.
    spans = cur.execute("SELECT count(*) FROM spans").fetchone()[0]
    assert snap[("llmledger_receiver_accepted_spans_total", ())] == spans
    assert snap[("llmledger_loader_loaded_spans_total", ())] == spans
    assert snap[("llmledger_loader_pending_batches", ())] == 0
    assert snap[("llmledger_loader_alive", ())] == 1 and snap[("llmledger_receiver_running", ())] == 1
    assert snap[("llmledger_spool_bytes", ())] >= 0
    assert snap[("llmledger_loader_quarantined_batches_total", ())] == 0
    assert snap[("llmledger_metrics_part_up", (("part", "ledger"),))] == 1
    assert snap[("llmledger_metrics_part_up", (("part", "budgets"),))] == 1
    assert snap[("llmledger_metrics_part_ready", (("part", "budgets"),))] == 1


def test_sums_are_cached_for_the_ttl_and_a_stale_scrape_does_not_wait(served, con):
    svc, clock = served
    send_demo(svc, 200, seed=6)
    first = named(samples(fresh_scrape(svc).text), "llmledger_calls_total")
    send_demo(svc, 200, seed=7)  # more calls land
    assert named(samples(scrape(svc).text), "llmledger_calls_total") == first  # within the TTL
    clock.t += metrics.LEDGER_TTL_S
    # Past the TTL, a scrape answers at once with the last figures and their age, and starts a read.
    stale = samples(scrape(svc).text)
    assert named(stale, "llmledger_calls_total") == first
    assert stale[("llmledger_metrics_part_age_seconds", (("part", "ledger"),))] >= metrics.LEDGER_TTL_S
    assert svc.collector._ledger.refresh(wait=120)  # that read (already started) finishes
    after = named(samples(scrape(svc).text), "llmledger_calls_total")
    n = con.cursor().execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    assert sum(after.values()) == n > sum(first.values())


def test_the_first_scrape_after_start_finds_figures_read_at_start(con, db_path, tmp_path):
    """attach() starts reading at once: by the time a first scrape comes, the figures are there
    (before that, a scrape answers without them and says they are not ready)."""
    budgets.save(con, Budget.build("All spend", 50, "month"))
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool")
    collector = metrics.attach(svc, con)
    svc.start()
    try:
        early = samples(scrape(svc).text)
        ready = early[("llmledger_metrics_part_ready", (("part", "budgets"),))]
        if not ready:  # the read started at attach() is still running: the scrape did not wait for it
            assert not named(early, "llmledger_budget_amount")
        assert collector._budgets._done.wait(120)
        snap = samples(scrape(svc).text)
        assert snap[("llmledger_metrics_part_ready", (("part", "budgets"),))] == 1
        assert named(snap, "llmledger_budget_amount")
    finally:
        collector.warm(wait=120)
        svc.stop()


def test_route_keeps_the_receiver_contract(con, db_path, tmp_path):
    routes = {"/broken": lambda: 1 / 0}
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool", token="s3cret", extra_routes=routes)
    collector = metrics.attach(svc, con)
    svc.start()
    try:
        base = f"http://127.0.0.1:{svc.port}"
        assert scrape(svc).status_code == 401  # the bearer token guards /metrics as it guards OTLP
        auth = {"Authorization": "Bearer s3cret"}
        r = scrape(svc, headers=auth)
        assert r.status_code == 200 and "llmledger_metrics_part_up" in r.text
        assert requests.head(f"{base}/metrics", headers=auth, timeout=30).status_code == 200
        assert requests.get(f"{base}/broken", headers=auth, timeout=30).status_code == 500
        assert requests.get(f"{base}/other", headers=auth, timeout=30).status_code == 404
        assert requests.post(f"{base}/metrics", headers=auth, timeout=30).status_code == 404
        assert requests.get(f"{base}/v1/traces", headers=auth, timeout=30).status_code == 405
        assert svc.stats()["requests"] == 3  # scrapes are not OTLP requests; the refused ones are
    finally:
        collector.warm(wait=120)  # the reads on their thread are done before the ledger closes
        svc.stop()


def test_serve_otlp_serves_metrics(db_path):
    """The headless receiver answers /metrics too (alerts registers it as a serve-otlp hook)."""
    import signal
    import subprocess
    import sys
    import time

    from helpers import free_port, request_json, subprocess_env

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(LLMLEDGER_DB=db_path),
    )
    try:
        assert "OTLP receiver on" in proc.stdout.readline()
        for k in range(3):
            r = requests.post(
                f"http://127.0.0.1:{port}/v1/traces",
                data=request_json(4, k),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert r.status_code == 200
        deadline = time.monotonic() + 60
        while True:
            snap = samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=60).text)
            ready = snap.get(("llmledger_metrics_part_ready", (("part", "ledger"),)))
            if (snap.get(("llmledger_loader_loaded_spans_total", ())) == 12 and ready) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert snap[("llmledger_receiver_accepted_spans_total", ())] == 12
        assert snap[("llmledger_loader_loaded_spans_total", ())] == 12
        assert snap[("llmledger_loader_alive", ())] == 1
        assert snap[("llmledger_metrics_part_up", (("part", "ledger"),))] == 1
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_a_deferred_warm_reads_nothing_until_its_time_or_a_scrape(con, db_path, tmp_path):
    """The dashboard defers /metrics' first read (warm_after_s) so that its first page comes
    first. Before the delay nothing is read; a scrape then starts the read itself; without a scrape
    the read happens once the delay is over."""
    late = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool-late")
    collector = metrics.attach(late, con, warm_after_s=600)
    late.start()
    try:
        time.sleep(0.3)
        assert collector._ledger.age() is None and collector._budgets.age() is None
        assert scrape(late).status_code == 200  # starts the read, never waits for it
        assert collector.warm(wait=120) and collector._ledger.age() is not None
    finally:
        collector.warm_timer.cancel()
        late.stop()
    soon = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool-soon")
    collector = metrics.attach(soon, con, warm_after_s=0.2)
    soon.start()
    try:
        deadline = time.monotonic() + 120
        while collector._budgets.age() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collector._ledger.age() is not None and collector._budgets.age() is not None
    finally:
        collector.warm(wait=120)
        soon.stop()
