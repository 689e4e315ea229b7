"""The benchmark harness at a tiny size: every scenario produces its figures and the reports are written.

No timing is asserted (figures belong to the machine); what is asserted is that the harness cannot
rot: every registered scenario sets up, runs, measures its baseline and memory, and tears down, and
the JSON and Markdown `make bench` publishes are written from the results.
"""

import json
import subprocess

import pytest

from benchmarks.database import book_ensure
from benchmarks.registry import Context, Measurement, scenario, scenarios_load
from benchmarks.report import END, START, report_markdown_write, results_json_write, results_merged
from benchmarks.runner import Result, run_scenario, scenarios_run
from clients.models import Client
from ingestion.models import Source, SourceRecord

TINY = 200


@pytest.fixture
def no_hand_off(settings):
    # As in `python -m benchmarks`: the steps after a sync have scenarios of their own.
    settings.STEWARD_AFTER_SYNC_TASKS = []


@pytest.mark.django_db
def test_every_scenario_produces_its_figures_and_leaves_nothing_behind(no_hand_off, tmp_path):
    book_ensure(TINY, log=lambda text: None)
    clients_before = Client.objects.count()
    registry = scenarios_load()
    assert {"ingestion", "ingestion_incremental", "bulk_load_staging", "memory_sync", "ingestion_scale_out"} <= set(
        registry
    )
    context = Context(size=TINY, runs=1, log=lambda text: None, options={"memory_records": TINY})

    results = {name: run_scenario(registered, context) for name, registered in registry.items()}

    for result in results.values():
        assert result.count > 0 and result.seconds > 0 and result.throughput > 0
        assert result.peak_rss_mb > 0 and len(result.runs_seconds) == 1
        assert result.wall_seconds >= sum(result.runs_seconds) - 0.1  # setup and baseline included
    assert results["ingestion"].count == TINY
    assert results["ingestion"].extra["new_records"] == TINY
    for name in ("ingestion", "bulk_load_staging"):
        assert results[name].baseline_seconds > 0 and results[name].ratio > 0
        assert results[name].baseline["sample_count"] == TINY
    assert results["ingestion_incremental"].extra["incremental_run_fetched"] < TINY
    assert results["ingestion_scale_out"].count == TINY and results["ingestion_scale_out"].extra["ranges"] == 2
    memory = results["memory_sync"].extra
    assert memory["small_sync_records"] == TINY // 10 and memory["large_sync_peak_rss_mb"] > 0
    # Every run was rolled back and every source removed: the book is as it was.
    assert Client.objects.count() == clients_before
    assert not SourceRecord.objects.exists() and not Source.objects.exists()

    results_json_write(list(results.values()), tmp_path / "results.json", machine={"cpu": "test"}, command="test")
    report_markdown_write(list(results.values()), tmp_path / "benchmarks.md", machine={"cpu": "test"}, command="test")
    assert len(json.loads((tmp_path / "results.json").read_text())["scenarios"]) == len(registry)
    assert "| `memory_sync` |" in (tmp_path / "benchmarks.md").read_text()


def result(name="ingestion", **overrides):
    values = {
        "name": name,
        "description": "A full sync.",
        "unit": "records",
        "size": 100_000,
        "count": 20_000,
        "runs_seconds": [4.1, 4.0, 4.3],
        "seconds": 4.1,
        "throughput": 4878.0,
        "baseline_seconds": 300.0,
        "ratio": 73.2,
        "baseline": {"method": "one save() per record", "sample_count": 1000, "sample_seconds": 15.0},
        "peak_rss_mb": 180.0,
        "rss_before_mb": 120.0,
        "extra": {"new_records": 20_000},
    }
    return Result(**{**values, **overrides})


def test_the_json_has_one_object_per_scenario_with_the_figures_first(tmp_path):
    path = tmp_path / "results.json"
    results_json_write(
        [result(), result("bulk_load_staging", baseline_seconds=None, ratio=None, baseline=None)],
        path,
        machine={"cpu": "AMD EPYC", "cores": 2},
        command="make bench SIZE=100000",
    )
    payload = json.loads(path.read_text())
    assert payload["command"] == "make bench SIZE=100000" and payload["machine"]["cores"] == 2
    first = payload["scenarios"][0]
    assert list(first)[:2] == ["name", "description"]
    assert {key: first[key] for key in ("name", "size", "seconds", "throughput", "baseline_seconds", "ratio")} == {
        "name": "ingestion",
        "size": 100_000,
        "seconds": 4.1,
        "throughput": 4878.0,
        "baseline_seconds": 300.0,
        "ratio": 73.2,
    }
    assert payload["scenarios"][1]["ratio"] is None


def test_the_report_replaces_only_its_generated_part(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\nWhy we measure.\n\n{START}\nold table\n{END}\n\n## What was fixed\nKept.\n")
    report_markdown_write([result()], path, machine={"cpu": "AMD EPYC", "cores": 2}, command="make bench SIZE=1000")
    text = path.read_text()
    assert "Why we measure." in text and "## What was fixed\nKept." in text and "old table" not in text
    row = "| `ingestion` | 100,000 | 20,000 records | 4.10 (4.10, 4.00, 4.30) | 4,878 records/s | 300.0 | 73.2"
    assert row + "\N{MULTIPLICATION SIGN} | 180 |" in text
    assert "Reproduce: `make bench SIZE=1000`" in text and "AMD EPYC, 2 cores" in text


def test_the_report_says_how_long_each_scenario_and_the_whole_run_took(tmp_path):
    path = tmp_path / "benchmarks.md"
    machine = {"cpu": "AMD EPYC", "bench_seconds": 570}
    report_markdown_write([result(wall_seconds=61.4)], path, machine=machine, command="make bench SIZE=100000")
    text = path.read_text()
    assert "The scenario took 61 s in all (setup, runs, baseline)." in text
    assert "The whole run took 9.5 minutes (migrations and the book included)." in text
    assert "[61 s in all]" in result(wall_seconds=61.4).line()


def test_a_failing_scenario_is_reported_and_the_others_still_run(tmp_path):
    def run_one(name):
        if name == "broken":
            raise subprocess.CalledProcessError(1, ["python", "-m", "benchmarks", "--child", name])
        return result(name=name)

    lines = []
    results, failed = scenarios_run(["ingestion", "broken", "canvas_move"], run_one, lines.append)
    assert [r.name for r in results] == ["ingestion", "canvas_move"] and failed == ["broken"]
    assert "broken: FAILED (exit status 1, its traceback above); the others go on" in lines
    path = tmp_path / "benchmarks.md"
    report_markdown_write(results, path, machine={"failed_scenarios": failed}, command="make bench")
    assert "**Failed, no figures:** `broken`" in path.read_text()


def test_a_scenario_re_run_alone_replaces_only_its_own_figures(tmp_path):
    path = tmp_path / "results.json"
    machine = {"cpu": "AMD EPYC", "bench_seconds": 3600, "failed_scenarios": ["dashboard"]}
    first = [result(name="canvas_move"), result(name="ingestion")]
    results_json_write(first, path, machine=machine, command="make bench SIZE=1000000")

    rerun = result(name="dashboard", seconds=5.6)
    merged, machine, command = results_merged(
        path, [rerun], [], command="make bench SIZE=1000000 BENCH_ARGS='--scenarios dashboard --merge'",
        order=["canvas_move", "dashboard", "ingestion"],
    )  # fmt: skip
    assert [r.name for r in merged] == ["canvas_move", "dashboard", "ingestion"] and merged[1].seconds == 5.6
    assert command == "make bench SIZE=1000000" and machine["bench_seconds"] == 3600
    assert "failed_scenarios" not in machine and machine["reruns"][0]["scenarios"] == ["dashboard"]
    report = tmp_path / "benchmarks.md"
    report_markdown_write(merged, report, machine=machine, command=command)
    text = report.read_text()
    assert "Re-run on its own afterwards (" in text and "`dashboard`" in text and "Failed" not in text


def test_a_baseline_over_everything_the_run_handled_is_not_called_extrapolated(tmp_path):
    sampled = result()  # 1,000 of 20,000 records
    whole = result(name="framework_scaleout", count=10_000, baseline={"method": "one worker", "sample_count": 10_000,
                                                                     "sample_seconds": 18.4})  # fmt: skip
    path = tmp_path / "benchmarks.md"
    report_markdown_write([sampled, whole], path, machine={}, command="make bench")
    text = path.read_text()
    assert "(1,000 measured in 15.0 s, extrapolated)" in text and "(10,000 measured in 18.4 s)." in text


def test_a_new_report_is_created_with_just_the_generated_part(tmp_path):
    path = tmp_path / "docs" / "benchmarks.md"
    report_markdown_write([result()], path, machine={}, command="make bench")
    assert path.read_text().startswith("# Benchmarks") and START in path.read_text()


def test_a_scenario_is_a_name_a_setup_and_a_timed_run(monkeypatch):
    monkeypatch.setattr("benchmarks.registry.SCENARIOS", {})
    calls = []

    @scenario(name="counting", description="Counts.", unit="items", setup=lambda context: calls.append("setup") or 3)
    def counting(context, state):
        calls.append("run")
        return Measurement(seconds=0.5, count=state * 10)

    from benchmarks.registry import SCENARIOS

    measured = run_scenario(SCENARIOS["counting"], Context(size=30, runs=3, log=lambda text: None))
    assert calls == ["setup", "run", "run", "run"]
    assert (measured.count, measured.seconds, measured.throughput, measured.ratio) == (30, 0.5, 60.0, None)
    with pytest.raises(ValueError, match="registered already"):
        scenario(name="counting", description="", unit="items")(counting)
