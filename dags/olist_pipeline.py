"""The olistlake DAGs.

- olist_pipeline: one run per data interval (daily by default, OLISTLAKE_SCHEDULE overrides,
  a cron expression) from the first Olist day; catch-up backfills the whole timeline when the
  DAG is unpaused. Each run waits until the replay clock has passed the interval's end, then
  bronze_load >> silver_build >> [gold_bcg, gold_leadtime] >> refresh_dashboards (Superset's
  DuckDB views over the new gold snapshots).
- olist_backfill: manual; params start, end, full_refresh, jobs: reruns a date range.
- olist_maintenance: compaction of small files, snapshot expiry and orphan-file cleanup, daily
  (wall time).

Jobs run in containers of the olistlake image (OLISTLAKE_RUNNER=local: local binaries); see
olistlake_tasks.py for the exit-code mapping and configuration.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param, PokeReturnValue, task
from airflow.timetables.interval import CronDataIntervalTimetable

from olistlake_tasks import INTERVAL_ARGS, job_task, refresh_views_task, run_job

SCHEDULE = os.environ.get("OLISTLAKE_SCHEDULE", "@daily")
FIRST_DAY = datetime(2016, 9, 4, tzinfo=timezone.utc)  # the first purchase in the data
LAST_DAY = datetime(2018, 11, 1, tzinfo=timezone.utc)  # after the last event
SENSOR_TIMEOUT = timedelta(hours=int(os.environ.get("OLISTLAKE_SENSOR_TIMEOUT_HOURS", "24")))
SENSOR_POKE = timedelta(seconds=int(os.environ.get("OLISTLAKE_SENSOR_POKE_SECONDS", "60")))

# One pool per writer layer: one writer of bronze at a time, gold jobs side by side.
POOLS = {
    "bronze": os.environ.get("OLISTLAKE_POOL_BRONZE", "olistlake_bronze"),
    "silver": os.environ.get("OLISTLAKE_POOL_SILVER", "olistlake_silver"),
    "gold": os.environ.get("OLISTLAKE_POOL_GOLD", "olistlake_gold"),
}

DEFAULT_ARGS = {
    "owner": "olistlake",
    # Only the retryable exit code (75) is retried: other failures raise AirflowFailException.
    "retries": int(os.environ.get("OLISTLAKE_RETRIES", "3")),
    "retry_delay": timedelta(seconds=int(os.environ.get("OLISTLAKE_RETRY_DELAY_SECONDS", "60"))),
    # Airflow 3 takes the backoff as a multiplier: the delay doubles per try (about 1, 2, 4
    # minutes, jittered), up to max_retry_delay.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=int(os.environ.get("OLISTLAKE_MAX_RETRY_DELAY_MINUTES", "30"))),
}


@task.sensor(task_id="wait_for_replay", mode="reschedule", poke_interval=SENSOR_POKE, timeout=SENSOR_TIMEOUT)
def wait_for_replay(data_interval_end=None) -> PokeReturnValue:
    """Done once the replay clock (newest record timestamp in Kafka) is at or past the end."""
    code, stdout = run_job(f"olistlake replay-clock --json --passed {data_interval_end.isoformat()}")
    if code not in (0, 99):
        raise RuntimeError(f"olistlake replay-clock exited {code}: {stdout}")
    return PokeReturnValue(is_done=code == 0, xcom_value=stdout.strip().splitlines()[-1] if stdout.strip() else None)


with DAG(
    dag_id="olist_pipeline",
    description="bronze-load >> silver-build >> gold-bcg, gold-leadtime for each data interval",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=FIRST_DAY,
    end_date=LAST_DAY,
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["olistlake"],
) as pipeline:
    bronze = job_task("bronze_load", f"bronze-load {INTERVAL_ARGS}", pool=POOLS["bronze"])
    silver = job_task("silver_build", f"silver-build {INTERVAL_ARGS}", pool=POOLS["silver"])
    bcg = job_task("gold_bcg", f"gold-bcg {INTERVAL_ARGS}", pool=POOLS["gold"])
    leadtime = job_task("gold_leadtime", f"gold-leadtime {INTERVAL_ARGS}", pool=POOLS["gold"])
    # the dashboards read views pinned to the gold tables' metadata: rebuild them after commits
    dashboards = refresh_views_task(trigger_rule="none_failed")
    wait_for_replay() >> bronze >> silver >> [bcg, leadtime] >> dashboards


BACKFILL_ARGS = (
    "--start {{ params.start }} --end {{ params.end }} --run-id {{ run_id | replace(' ', '_') }}"
    "{% if params.full_refresh %} --full-refresh{% endif %}"
)
JOBS = ["bronze-load", "silver-build", "gold-bcg", "gold-leadtime"]

with DAG(
    dag_id="olist_backfill",
    description="Rerun the jobs over [start, end) (or a full refresh) from the UI or CLI",
    schedule=None,
    start_date=FIRST_DAY,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "start": Param("2017-11-24T00:00:00+00:00", type="string", description="interval start (ISO 8601)"),
        "end": Param("2017-11-25T00:00:00+00:00", type="string", description="interval end, exclusive"),
        "full_refresh": Param(False, type="boolean", description="rebuild every partition"),
        "jobs": Param(JOBS, type="array", items={"type": "string", "enum": JOBS}, description="jobs to run"),
    },
    tags=["olistlake"],
) as backfill:

    def chosen(job: str):
        @task.short_circuit(task_id=f"run_{job.replace('-', '_')}", ignore_downstream_trigger_rules=False)
        def run_it(params=None) -> bool:
            # bronze-load is append-only: a full refresh never applies to it.
            return job in params["jobs"] and not (job == "bronze-load" and params["full_refresh"])

        return run_it()

    steps = {}
    for job in JOBS:
        gate = chosen(job)
        work = job_task(job.replace("-", "_"), f"{job} {BACKFILL_ARGS}", pool=POOLS["gold" if job.startswith("gold") else job.split("-")[0]],
                        trigger_rule="none_failed")
        gate >> work
        steps[job] = work
    steps["bronze-load"] >> steps["silver-build"] >> [steps["gold-bcg"], steps["gold-leadtime"]]
    [steps["gold-bcg"], steps["gold-leadtime"]] >> refresh_views_task(trigger_rule="none_failed")


with DAG(
    dag_id="olist_maintenance",
    description="Compact small files, expire old snapshots and delete orphan files",
    schedule=CronDataIntervalTimetable(os.environ.get("OLISTLAKE_MAINTENANCE_SCHEDULE", "0 3 * * *"), timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["olistlake"],
) as maintenance:
    # compaction first: the small files it replaces are deleted by the expiry once the
    # snapshots that still list them are older than the retention
    compact = job_task(
        "rewrite_data_files",
        "olistlake rewrite-data-files --min-input-files {{ var.value.get('olistlake_compact_min_files', '5') }}",
        pool=POOLS["gold"],
    )
    expire = job_task(
        "expire_snapshots",
        "olistlake expire-snapshots --older-than {{ var.value.get('olistlake_snapshot_retention', '7d') }} --retain-last 5",
        pool=POOLS["gold"],
    )
    orphans = job_task(
        "remove_orphan_files",
        "olistlake remove-orphan-files --older-than {{ var.value.get('olistlake_orphan_age', '3d') }}",
        pool=POOLS["gold"],
    )
    compact >> expire >> orphans
