"""Checks of the olistlake DAGs, run in the Airflow venv by tests/airflow.rs.

  integrity            every DAG imports; task ids, dependencies, pools, retries, schedule;
                       rendered command lines for an interval equal the expected argv
  exit-codes           LocalJobOperator maps the real binaries' exit codes: 99 -> skipped,
                       75 -> retryable failure, 1 -> failure without retry
  runs DAG             the DAG's runs in the metadata database, oldest first: run id, logical
                       date, and per task its state, tries, XCom return value and the waits
                       between its tries (seconds)
  sensor END           one poke of wait_for_replay for an interval ending at END; prints
                       {"done": bool}

Prints one JSON object; exits non-zero with a message when a check fails.
"""

import json
import os
import shlex
import sys
from datetime import datetime, timezone

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
DAGS = os.path.join(os.path.dirname(__file__), "..", "..", "dags")
sys.path.insert(0, os.path.abspath(DAGS))


def check(cond, msg):
    if not cond:
        print(json.dumps({"ok": False, "error": msg}))
        sys.exit(1)


def dagbag():
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=os.path.abspath(DAGS))
    check(not bag.import_errors, f"import errors: {bag.import_errors}")
    return bag


def render(task, start, end, run_id="scheduled__test", params=None):
    """The task's command rendered for an interval, as argv."""
    import jinja2

    ctx = {
        "data_interval_start": start,
        "data_interval_end": end,
        "run_id": run_id,
        "params": params or {},
        "var": {"value": {"get": lambda k, d=None: d}},
    }
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return shlex.split(env.from_string(task.command).render(**ctx))


def integrity():
    bag = dagbag()
    check(set(bag.dag_ids) == {"olist_pipeline", "olist_backfill", "olist_maintenance"}, f"dags: {bag.dag_ids}")

    p = bag.dags["olist_pipeline"]
    check(p.catchup and p.max_active_runs == 1, "pipeline: catchup and max_active_runs=1")
    check(p.start_date == datetime(2016, 9, 4, tzinfo=timezone.utc), f"start {p.start_date}")
    check(type(p.timetable).__name__ == "CronDataIntervalTimetable", f"timetable {p.timetable}")
    ids = {t.task_id for t in p.tasks}
    check(ids == {"wait_for_replay", "bronze_load", "silver_build", "gold_bcg", "gold_leadtime",
                  "refresh_dashboards"}, f"tasks {ids}")
    down = {t.task_id: sorted(t.downstream_task_ids) for t in p.tasks}
    check(down["wait_for_replay"] == ["bronze_load"], f"deps {down}")
    check(down["bronze_load"] == ["silver_build"], f"deps {down}")
    check(down["silver_build"] == ["gold_bcg", "gold_leadtime"], f"deps {down}")
    check(down["gold_bcg"] == down["gold_leadtime"] == ["refresh_dashboards"], f"deps {down}")
    check(p.get_task("refresh_dashboards").trigger_rule == "none_failed", "refresh after skipped gold jobs too")
    sensor = p.get_task("wait_for_replay")
    check(sensor.mode == "reschedule", "sensor in reschedule mode")
    pools = {t.task_id: t.pool for t in p.tasks if t.task_id not in ("wait_for_replay", "refresh_dashboards")}
    check(pools == {"bronze_load": "olistlake_bronze", "silver_build": "olistlake_silver",
                    "gold_bcg": "olistlake_gold", "gold_leadtime": "olistlake_gold"}, f"pools {pools}")
    for t in p.tasks:
        check(t.retries >= 1, f"{t.task_id} retries {t.retries}")
        # Airflow 3: a multiplier of the delay per try (0 or 1: a fixed delay)
        check(t.retry_exponential_backoff >= 2, f"{t.task_id}: backoff {t.retry_exponential_backoff}")

    start = datetime(2017, 11, 24, tzinfo=timezone.utc)
    end = datetime(2017, 11, 25, tzinfo=timezone.utc)
    interval = ["--start", "2017-11-24T00:00:00+00:00", "--end", "2017-11-25T00:00:00+00:00",
                "--run-id", "scheduled__2017-11-24T00:00:00+00:00"]
    rendered = {}
    for tid, job in [("bronze_load", "bronze-load"), ("silver_build", "silver-build"),
                     ("gold_bcg", "gold-bcg"), ("gold_leadtime", "gold-leadtime")]:
        argv = render(p.get_task(tid), start, end, "scheduled__2017-11-24T00:00:00+00:00")
        check(argv == [job] + interval, f"{tid} renders {argv}")
        rendered[tid] = argv

    b = bag.dags["olist_backfill"]
    check(b.schedule is None or str(b.timetable.summary) in ("None",), f"backfill schedule {b.timetable}")
    check(set(b.params.keys()) == {"start", "end", "full_refresh", "jobs"}, f"params {b.params.keys()}")
    argv = render(b.get_task("silver_build"), start, end, "manual__x",
                  {"start": "2017-11-01", "end": "2017-11-04", "full_refresh": True})
    check(argv == ["silver-build", "--start", "2017-11-01", "--end", "2017-11-04", "--run-id",
                   "manual__x", "--full-refresh"], f"backfill renders {argv}")

    m = bag.dags["olist_maintenance"]
    names = ("rewrite_data_files", "expire_snapshots", "remove_orphan_files")
    cmds = [render(m.get_task(t), start, end) for t in names]
    check(cmds[0] == ["olistlake", "rewrite-data-files", "--min-input-files", "5"], f"{cmds}")
    check(cmds[1][:2] == ["olistlake", "expire-snapshots"], f"{cmds}")
    check(cmds[2][:2] == ["olistlake", "remove-orphan-files"], f"{cmds}")
    check(m.get_task("rewrite_data_files").downstream_task_ids == {"expire_snapshots"},
          "compaction runs before the expiry")
    print(json.dumps({"ok": True, "rendered": rendered}))


def exit_codes():
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

    from olistlake_tasks import LocalJobOperator

    def outcome(command, **env):
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            LocalJobOperator(task_id="t", command=command).execute({})
            return "ok"
        except AirflowSkipException:
            return "skipped"
        except AirflowFailException:
            return "failed_no_retry"
        except AirflowException:
            return "retryable"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    got = {
        # an empty lake: the interval touches nothing
        "nothing_to_do": outcome("silver-build --start 2017-01-01 --end 2017-01-02"),
        # the catalog database refuses connections
        "retryable": outcome("silver-build --start 2017-01-01 --end 2017-01-02",
                             OLISTLAKE_CATALOG_URI="postgres://u:p@127.0.0.1:9/none"),
        # a bad flag value
        "fatal": outcome("silver-build --start yesterday"),
    }
    check(got == {"nothing_to_do": "skipped", "retryable": "retryable", "fatal": "failed_no_retry"},
          f"exit-code mapping {got}")
    print(json.dumps({"ok": True, "outcomes": got}))


def runs(dag_id):
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    out = []
    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id):
            tasks = {}
            for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id):
                tries = session.query(TaskInstanceHistory).filter(
                    TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id == ti.run_id,
                    TaskInstanceHistory.task_id == ti.task_id).order_by(TaskInstanceHistory.try_number).all()
                spans = [(h.start_date, h.end_date) for h in tries] + [(ti.start_date, ti.end_date)]
                waits = [(b[0] - a[1]).total_seconds() for a, b in zip(spans, spans[1:]) if a[1] and b[0]]
                tasks[ti.task_id] = {"state": getattr(ti.state, "value", ti.state), "tries": ti.try_number,
                                     "retry_waits": waits}
            for x in session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run.run_id,
                                                     XComModel.key == "return_value"):
                tasks.setdefault(x.task_id, {})["xcom"] = XComModel.deserialize_value(x)
            out.append({"run_id": run.run_id, "logical_date": run.logical_date, "tasks": tasks})
    print(json.dumps({"ok": True, "runs": out}, default=str))


def sensor(end):
    import olist_pipeline

    fn = olist_pipeline.wait_for_replay.function
    result = fn(data_interval_end=datetime.fromisoformat(end))
    print(json.dumps({"ok": True, "done": bool(result.is_done), "clock": result.xcom_value}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "integrity":
        integrity()
    elif cmd == "exit-codes":
        exit_codes()
    elif cmd == "runs":
        runs(sys.argv[2])
    elif cmd == "sensor":
        sensor(sys.argv[2])
    else:
        check(False, f"unknown command {cmd}")
