"""How an olistlake job runs as an Airflow task, shared by the olistlake DAGs.

Every job is one process of the olistlake image: `<job> <flags>`. By default a task runs it in
its own container (DockerOperator) of OLISTLAKE_IMAGE, through the Docker API at
OLISTLAKE_DOCKER_URL (Docker, or podman's `podman system service`), on the network
OLISTLAKE_DOCKER_NETWORK (e.g. `host`), with the bind mounts OLISTLAKE_DOCKER_MOUNTS
(`SRC:DST[:ro]`, comma-separated; e.g. a local warehouse). With OLISTLAKE_RUNNER=local the same
command line runs the local binaries in OLISTLAKE_BIN_DIR instead.

Exit codes (the jobs' contract): 0 ok; 99 nothing to do -> the task is skipped; 75 retryable
(broker, storage or catalog unreachable, commit conflict) -> retried; anything else (1: bad
config, bad input, failed checks) -> failed at once, no retry. The job's JSON summary (its last
stdout line) is the task's XCom return value.

Configuration reaches the jobs as environment: every OLISTLAKE_* and AWS_* variable of the
Airflow worker, then the Airflow Variable `olistlake_env` (a JSON object of variables), then
the S3 credentials of the Airflow connection `olistlake_s3` (login / password, extra
`endpoint_url`) when it exists. Nothing is hard-coded here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.sdk import BaseOperator

EXIT_OK = 0
EXIT_RETRYABLE = 75
EXIT_NOTHING_TO_DO = 99

RUNNER = os.environ.get("OLISTLAKE_RUNNER", "docker")
IMAGE = os.environ.get("OLISTLAKE_IMAGE", "olistlake:latest")
# The dashboards' DuckDB views are refreshed by docker/superset/olistlake_views.py, installed as
# `olistlake-refresh-views` in the Superset image; the DuckDB file lives on a volume Superset
# mounts too. Locally, OLISTLAKE_REFRESH_VIEWS is the command line that runs the script.
SUPERSET_IMAGE = os.environ.get("OLISTLAKE_SUPERSET_IMAGE", "olistlake-superset:latest")
VIEWS_VOLUME = os.environ.get("OLISTLAKE_VIEWS_VOLUME", "olistlake-superset-views")
REFRESH_VIEWS = "olistlake-refresh-views"
DOCKER_NETWORK = os.environ.get("OLISTLAKE_DOCKER_NETWORK")
DOCKER_URL = os.environ.get("OLISTLAKE_DOCKER_URL", "unix://var/run/docker.sock")
DOCKER_MOUNTS = os.environ.get("OLISTLAKE_DOCKER_MOUNTS", "")

# Airflow passes the data interval; the jobs take ISO 8601 with offsets.
INTERVAL_ARGS = (
    "--start {{ data_interval_start.isoformat() }} "
    "--end {{ data_interval_end.isoformat() }} "
    "--run-id {{ run_id | replace(' ', '_') }}"
)


def job_environment() -> dict[str, str]:
    """The environment a job runs with (see the module docs for the order)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("OLISTLAKE_", "AWS_"))}
    for k in ("OLISTLAKE_RUNNER", "OLISTLAKE_BIN_DIR", "OLISTLAKE_IMAGE", "OLISTLAKE_DOCKER_NETWORK", "OLISTLAKE_DOCKER_URL",
              "OLISTLAKE_DOCKER_MOUNTS", "OLISTLAKE_SUPERSET_IMAGE", "OLISTLAKE_VIEWS_VOLUME", "OLISTLAKE_REFRESH_VIEWS"):
        env.pop(k, None)
    try:
        from airflow.sdk import Variable

        env.update(json.loads(Variable.get("olistlake_env", default="{}")))
    except Exception:  # no Variable store reachable (parsing, tests): environment only
        pass
    try:
        from airflow.sdk import Connection

        s3 = Connection.get("olistlake_s3")
        if s3.login:
            env["AWS_ACCESS_KEY_ID"] = s3.login
        if s3.password:
            env["AWS_SECRET_ACCESS_KEY"] = s3.password
        endpoint = (s3.extra_dejson or {}).get("endpoint_url")
        if endpoint:
            env["OLISTLAKE_S3_ENDPOINT"] = endpoint
    except Exception:  # the connection is optional (local warehouse)
        pass
    env.setdefault("OLISTLAKE_METRICS_ADDR", "")
    return env


def summary_of(stdout: str):
    """The job's JSON summary: its last non-empty stdout line."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def raise_for_exit(code: int, what: str, summary) -> None:
    """Maps a job's exit code to the task's state."""
    if code == EXIT_OK:
        return
    detail = (summary or {}).get("error") or ""
    if code == EXIT_NOTHING_TO_DO:
        raise AirflowSkipException(f"{what}: nothing to do")
    if code == EXIT_RETRYABLE:
        raise AirflowException(f"{what}: retryable failure (exit 75) {detail}")
    raise AirflowFailException(f"{what}: failed (exit {code}) {detail}")


def run_local(command: str) -> tuple[int, str]:
    """Runs a job command line with the local binaries; returns (exit code, stdout)."""
    argv = shlex.split(command)
    bin_dir = os.environ.get("OLISTLAKE_BIN_DIR", "")
    if argv[0] == REFRESH_VIEWS and os.environ.get("OLISTLAKE_REFRESH_VIEWS"):
        argv = shlex.split(os.environ["OLISTLAKE_REFRESH_VIEWS"]) + argv[1:]
    elif bin_dir:
        argv[0] = os.path.join(bin_dir, argv[0])
    env = {**os.environ, **job_environment()}
    done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.stderr:
        print(done.stderr[-20000:])
    return done.returncode, done.stdout


def bind_mounts() -> list:
    """OLISTLAKE_DOCKER_MOUNTS as Docker bind mounts: `SRC:DST[:ro]`, comma-separated."""
    from docker.types import Mount

    mounts = []
    for spec in filter(None, (m.strip() for m in DOCKER_MOUNTS.split(","))):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise AirflowFailException(f"OLISTLAKE_DOCKER_MOUNTS: `{spec}` is not SRC:DST[:ro]")
        mounts.append(Mount(target=parts[1], source=parts[0], type="bind",
                            read_only=len(parts) == 3 and parts[2] == "ro"))
    return mounts


def run_container(command: str) -> tuple[int, str]:
    """Runs a job command line in a container of the image (for the sensor)."""
    import docker

    client = docker.DockerClient(base_url=DOCKER_URL)
    container = client.containers.run(
        IMAGE, shlex.split(command), environment=job_environment(),
        network_mode=DOCKER_NETWORK, mounts=bind_mounts(), detach=True,
    )
    try:
        code = container.wait()["StatusCode"]
        stdout = container.logs(stdout=True, stderr=False).decode()
    finally:
        container.remove(force=True)
    return code, stdout


def run_job(command: str) -> tuple[int, str]:
    return run_local(command) if RUNNER == "local" else run_container(command)


class LocalJobOperator(BaseOperator):
    """Runs `command` (an olistlake job and its flags) with the local binaries."""

    template_fields = ("command",)

    def __init__(self, *, command: str, **kwargs):
        super().__init__(**kwargs)
        self.command = command

    def execute(self, context):
        code, stdout = run_local(self.command)
        summary = summary_of(stdout)
        raise_for_exit(code, self.task_id, summary)
        return summary


def refresh_views_task(task_id: str = "refresh_dashboards", **kwargs) -> BaseOperator:
    """Rebuilds Superset's DuckDB views over the gold tables after the gold jobs committed
    (OLISTLAKE_DUCKDB names the file; without it the task is skipped). It runs where the views
    file is: the command line OLISTLAKE_REFRESH_VIEWS when set, else the Superset image."""
    if RUNNER == "local" or os.environ.get("OLISTLAKE_REFRESH_VIEWS"):
        return LocalJobOperator(task_id=task_id, command=REFRESH_VIEWS, **kwargs)
    from docker.types import Mount

    return job_task(task_id, REFRESH_VIEWS, image=SUPERSET_IMAGE,
                    mounts=[Mount(target="/views", source=VIEWS_VOLUME, type="volume")], **kwargs)


def job_task(task_id: str, command: str, image: str = IMAGE, **kwargs) -> BaseOperator:
    """One job as a task: in a container by default, locally with OLISTLAKE_RUNNER=local."""
    if RUNNER == "local":
        return LocalJobOperator(task_id=task_id, command=command, **kwargs)
    from airflow.providers.docker.exceptions import DockerContainerFailedException
    from airflow.providers.docker.operators.docker import DockerOperator

    class JobContainerOperator(DockerOperator):
        """DockerOperator with the jobs' exit-code contract and the summary as XCom.

        The summary is read from the container's stdout alone (the operator's own XCom is the
        last line of stdout and stderr interleaved), so the container is removed here, after
        reading it, rather than by the operator."""

        def execute(self, context):
            self.environment = {**job_environment(), **(self.environment or {})}
            try:
                super().execute(context)
                summary = self._summary()
            except DockerContainerFailedException as e:
                code = _status_code(str(e))
                raise_for_exit(code if code is not None else 1, self.task_id, self._summary())
                raise
            finally:
                self._remove()
            return summary

        def _summary(self):
            if not self.container:
                return None
            try:
                return summary_of(self.cli.logs(self.container["Id"], stdout=True, stderr=False).decode())
            except Exception:  # the container is gone: no summary
                return None

        def _remove(self):
            if self.container:
                try:
                    self.cli.remove_container(self.container["Id"], force=True)
                except Exception:  # already removed
                    pass

    kwargs["mounts"] = kwargs.get("mounts", []) + bind_mounts()
    return JobContainerOperator(
        task_id=task_id,
        image=image,
        command=command,
        docker_url=DOCKER_URL,
        network_mode=DOCKER_NETWORK,
        auto_remove="never",
        mount_tmp_dir=False,
        skip_on_exit_code=EXIT_NOTHING_TO_DO,
        do_xcom_push=True,
        **kwargs,
    )


def _status_code(text: str):
    import re

    m = re.search(r"'StatusCode': (\d+)", text)
    return int(m.group(1)) if m else None
