"""The dry-run's text and JSON: per-member lines, counts, and the calls ``apply`` will make."""

from connector.core.plan import Archive, Plan
from connector.sync.explain import document, render


def _archives(count: int) -> Plan:
    return Plan("main", tuple(Archive(f"{i:032x}", "no entitlement") for i in range(count)))


def test_calls_count_many_archives_as_one_batches_job() -> None:
    plan = _archives(60)
    assert render(plan)[-1] == "Mailchimp API calls: 60"
    assert render(plan, batch_jobs_above=50)[-1] == "Mailchimp API calls: 3"  # submit, poll, results
    assert document(plan, batch_jobs_above=50)["calls"] == 3
    assert document(_archives(50), batch_jobs_above=50)["calls"] == 50
