"""Superset settings for olistlake (the compose service and monitoring.sh).

Secrets and paths come from the environment; nothing here is specific to a machine.
"""
import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Superset's own metadata (users, charts): SQLite in its home unless a database is given.
SQLALCHEMY_DATABASE_URI = os.environ.get(
    "SUPERSET_METADATA_URI",
    "sqlite:///" + os.path.join(os.environ.get("SUPERSET_HOME", "/app/superset_home"), "superset.db"),
)
# Served over plain HTTP on loopback or behind the compose network.
TALISMAN_ENABLED = False
SESSION_COOKIE_SECURE = False
FEATURE_FLAGS = {"DASHBOARD_NATIVE_FILTERS": True, "DASHBOARD_CROSS_FILTERS": True}
# The dashboards read a DuckDB file of views over the gold Iceberg tables; the views are
# rebuilt after each gold commit, so query results are not cached for long.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60}
ROW_LIMIT = 50000
