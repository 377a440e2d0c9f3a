#!/usr/bin/env bash
# Apache Spark for the interop tests and benches/spark.sh: PySpark 3.5 in its own venv (PyPI)
# and the Iceberg Spark runtime plus the JDBC drivers (Maven Central), in the cache.
#
#   spark.sh install   (once) → $OLISTLAKE_CACHE/venv-spark, $OLISTLAKE_CACHE/tools/spark-jars
#   spark.sh python    prints the venv's python
#   spark.sh jars      prints the jar directory
set -euo pipefail

ICEBERG="${OLISTLAKE_SPARK_ICEBERG_VERSION:-1.10.0}"
CACHE="${OLISTLAKE_CACHE:-$HOME/.cache/olistlake}"
VENV="$CACHE/venv-spark"
JARS="$CACHE/tools/spark-jars-$ICEBERG"

log() { echo "[spark] $*" >&2; }

install() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pyspark' 2>/dev/null; then
    log "installing PySpark 3.5 into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "pyspark>=3.5,<3.6"
  fi
  if [ ! -f "$JARS/.complete" ]; then
    command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the jars"; exit 1; }
    log "fetching the Iceberg Spark runtime $ICEBERG and the JDBC drivers from Maven Central"
    rm -rf "$JARS"
    mkdir -p "$JARS"
    cat >"$JARS/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>olistlake</groupId><artifactId>spark-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.iceberg</groupId><artifactId>iceberg-spark-runtime-3.5_2.12</artifactId><version>$ICEBERG</version></dependency>
    <dependency><groupId>org.xerial</groupId><artifactId>sqlite-jdbc</artifactId><version>3.46.1.3</version></dependency>
    <dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId><version>42.7.4</version></dependency>
  </dependencies>
</project>
POM
    mvn -q -B -f "$JARS/pom.xml" dependency:copy-dependencies -DexcludeTransitive=true \
      -DoutputDirectory="$JARS" >&2
    rm "$JARS/pom.xml"
    touch "$JARS/.complete"
  fi
}

case "${1:-}" in
  install) install ;;
  python) echo "$VENV/bin/python" ;;
  jars) echo "$JARS" ;;
  *) echo "usage: $0 install | python | jars" >&2; exit 2 ;;
esac
