#!/usr/bin/env bash
# Fetch Beam's Flink and Spark job servers from Maven Central, cached outside the repo, and print
# the path of each job-server jar: `.ci/job_servers.sh [flink] [spark]` (both by default).
#
# Maven Central here serves Beam's runner artifacts but not the shaded *-job-server jars, so the
# "jar" is built from them: the runner and its run-time dependencies are copied into lib/ with
# `mvn dependency:copy-dependencies` (pom from .ci/job-servers/<runner>.pom.xml), and a small
# executable jar names the driver class (Main-Class) and lib/ (Class-Path). `java -jar` runs it,
# so Beam's --flink_job_server_jar / --spark_job_server_jar take it like the published ones.
#
# Idempotent: a finished cache directory (~/.cache/webtext/job-servers/<runner>-<version>/, with
# its .complete marker) is reused; an interrupted fetch is redone. The Beam version is the one
# beam_jobs/runners.py checks (JOB_SERVER_BEAM_VERSION): keep the two equal.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
BEAM_VERSION="${WEBTEXT_JOB_SERVER_BEAM_VERSION:-2.62.0}"
CACHE="${WEBTEXT_JOB_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/webtext/job-servers}"
PYTHON="${PYTHON:-python3}"

fetch() {
  local runner="$1" artifact main add_opens="" dir jar
  case "$runner" in
    flink)
      artifact="beam-runners-flink-1.19-job-server"
      main="org.apache.beam.runners.flink.FlinkJobServerDriver" ;;
    spark)
      artifact="beam-runners-spark-3-job-server"
      main="org.apache.beam.runners.spark.SparkJobServerDriver"
      # Spark on Java 17 reaches into these JDK packages (what spark-submit's launcher opens).
      add_opens="java.base/java.lang java.base/java.lang.invoke java.base/java.lang.reflect"
      add_opens+=" java.base/java.io java.base/java.net java.base/java.nio java.base/java.util"
      add_opens+=" java.base/java.util.concurrent java.base/java.util.concurrent.atomic"
      add_opens+=" java.base/sun.nio.ch java.base/sun.nio.cs java.base/sun.security.action"
      add_opens+=" java.base/sun.util.calendar" ;;
    *) echo "job_servers.sh: unknown runner '$runner' (flink or spark)" >&2; return 2 ;;
  esac
  dir="$CACHE/$runner-$BEAM_VERSION"
  jar="$dir/$artifact-$BEAM_VERSION.jar"
  if [[ -f "$dir/.complete" && -f "$jar" ]]; then
    echo "$jar"
    return 0
  fi
  command -v mvn >/dev/null || { echo "job_servers.sh: mvn not found (install Maven)" >&2; return 1; }
  rm -rf "$dir"
  mkdir -p "$dir"
  sed "s/@BEAM_VERSION@/$BEAM_VERSION/g" "$here/job-servers/$runner.pom.xml" >"$dir/pom.xml"
  echo "fetching the $runner job server (Beam $BEAM_VERSION) into $dir ..." >&2
  if ! mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$dir/lib" >"$dir/mvn.log" 2>&1; then
    echo "job_servers.sh: mvn could not fetch the $runner job server; see $dir/mvn.log" >&2
    return 1
  fi
  "$PYTHON" - "$jar" "$main" "$BEAM_VERSION" "$runner" "$add_opens" <<'PY'
import sys, zipfile
from pathlib import Path

jar, main, version, runner, add_opens = sys.argv[1:]
libs = sorted(p.name for p in (Path(jar).parent / "lib").glob("*.jar"))
attrs = [
    ("Manifest-Version", "1.0"),
    ("Main-Class", main),
    ("Class-Path", " ".join(f"lib/{name}" for name in libs)),
    ("Implementation-Title", f"Beam {runner} job server (webtext classpath jar)"),
    ("Implementation-Version", version),
    ("Webtext-Beam-Version", version),
    ("Webtext-Runner", runner),
]
if add_opens:
    attrs.append(("Add-Opens", add_opens))
lines = []
for key, value in attrs:  # manifest lines are at most 72 bytes; continuations start with a space
    line = f"{key}: {value}".encode()
    lines.append(line[:72])
    lines.extend(b" " + line[i : i + 71] for i in range(72, len(line), 71))
with zipfile.ZipFile(jar, "w") as z:
    z.writestr("META-INF/MANIFEST.MF", b"\r\n".join(lines) + b"\r\n\r\n")
    # The Flink job server logs through slf4j-simple: warnings and errors only (Beam relays
    # every line of it into the stage's log).
    z.writestr("simplelogger.properties", "org.slf4j.simpleLogger.defaultLogLevel=warn\n")
PY
  touch "$dir/.complete"
  echo "$jar"
}

runners=("$@")
((${#runners[@]})) || runners=(flink spark)
for r in "${runners[@]}"; do fetch "$r"; done
