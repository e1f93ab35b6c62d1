"""Several dashboard sessions opening their first page at once on a new ledger.

Each session's first read imports the default price sheet. Before the import was serialised, the
second transaction failed with `Duplicate key "key: match_rules"` and crashed that page.
"""

import threading

from llmledger.pricing.sheets import ensure_default_sheet, list_sheets
from llmledger.store.db import connect


def test_concurrent_first_reads_import_the_default_sheet_once(tmp_path):
    con = connect(tmp_path / "ledger.duckdb")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_page() -> None:
        cur = con.cursor()  # each Streamlit session reads on its own cursor
        try:
            start.wait()
            ensure_default_sheet(cur)
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever a session hit
            errors.append(exc)

    threads = [threading.Thread(target=first_page) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    sheets = list_sheets(con)
    assert list(sheets["sheet"]).count("litellm") == 1
    versions = con.execute("SELECT count(*) FROM price_versions WHERE sheet = 'litellm'").fetchone()[0]
    assert versions == 1
