"""Hypothesis fuzzing of the importer: ``--apply`` writes exactly its plan, or nothing at all."""

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import InputError
from connector.imports.service import ImportRequest, run_import
from connector.services.context import AppContext
from tests.imports.test_fuzz import files
from tests.imports.test_importer import row_counts

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(content=st.one_of(files(), st.binary(max_size=400)), source=st.sampled_from([None, "fuzz"]))
def test_apply_writes_its_whole_plan_or_nothing(ctx: AppContext, content: bytes, source: str | None) -> None:
    before = row_counts(ctx)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.csv"
        path.write_bytes(content)
        try:
            plan = run_import(ctx, ImportRequest(paths=[path], source=source, apply=True))
        except InputError:
            assert row_counts(ctx) == before  # one clear file-level error, nothing written
            return
    after = row_counts(ctx)
    counts = plan.counts()
    events = counts["consents"] + counts["confirmations"] + counts["withdrawals"]
    assert after["contacts"] - before["contacts"] == counts["contacts_new"]
    assert after["consent_events"] - before["consent_events"] == events
    assert after["suppressions"] - before["suppressions"] == counts["suppressions"]
    touched = sum(1 for c in plan.contacts if c.touched)
    assert after["history"] - before["history"] == touched
