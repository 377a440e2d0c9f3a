//! Test harness: starts the real services the integration tests use (s3s-fs, PostgreSQL) on
//! free 127.0.0.1 ports, stops them on drop, and runs the real binaries and the pyiceberg
//! reader. `tests/support/setup.sh` installs the tools; their locations can be overridden
//! with `OLISTLAKE_S3S_FS`, `OLISTLAKE_PG_BIN` and `OLISTLAKE_PYTHON`.
#![allow(dead_code)]

pub mod airflow;
pub mod containers;
pub mod pipeline;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::Array;
use serde_json::Value;
use tempfile::TempDir;

pub fn cache_dir() -> PathBuf {
    std::env::var_os("OLISTLAKE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/olistlake"))
}

fn tool(env: &str, default: PathBuf, what: &str) -> PathBuf {
    let p = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    assert!(
        p.exists(),
        "{what} not found at {} — run tests/support/setup.sh (or set {env})",
        p.display()
    );
    p
}

/// A 127.0.0.1 port nothing listens on, never one this process was given before: the kernel
/// may hand out again a port it just handed out, and two services of one test must not get it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    // Held until a new port is found, so the kernel cannot offer them again meanwhile.
    let mut held = Vec::new();
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
        held.push(listener);
    }
}

/// A 127.0.0.1 port that refuses connections for as long as this value lives: the socket is
/// bound but never listens. A port merely found free could be taken by a service another test
/// starts meanwhile (seen in CI: "unreachable" storage answered 403).
pub struct ClosedPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {port} within 30 s");
}

/// An s3s-fs server over a temporary directory, with one bucket.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    child: Child,
    _dir: TempDir,
}

impl S3Server {
    pub fn start() -> S3Server {
        let bin = tool(
            "OLISTLAKE_S3S_FS",
            cache_dir().join("tools/bin/s3s-fs"),
            "s3s-fs",
        );
        let dir = TempDir::new().unwrap();
        let bucket = "lake".to_string();
        std::fs::create_dir_all(dir.path().join(&bucket)).unwrap();
        let port = free_port();
        let (access_key, secret_key) = (
            "olistlake-test".to_string(),
            "olistlake-test-secret".to_string(),
        );
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s3s-fs");
        wait_for_port(port, "s3s-fs", &mut child);
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            child,
            _dir: dir,
        }
    }
}

impl S3Server {
    /// The directory s3s-fs keeps the bucket's objects in (one file per object).
    pub fn bucket_dir(&self) -> PathBuf {
        self._dir.path().join(&self.bucket)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway PostgreSQL cluster (Debian's server binaries), owned by the `postgres` user
/// when the tests run as root (PostgreSQL refuses to run as root).
pub struct Postgres {
    pub url: String,
    dir: TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

fn pg_bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("OLISTLAKE_PG_BIN") {
        return PathBuf::from(p);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL server not installed — run tests/support/setup.sh")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = pg_bin_dir();
        let dir = TempDir::new().unwrap();
        let as_postgres = is_root();
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir_all(&sock).unwrap();
        if as_postgres {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            Command::new("chmod")
                .arg("755")
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let port = free_port();
        let pg = Postgres {
            url: format!("postgres://olistlake@127.0.0.1:{port}/olistlake"),
            dir,
            bin,
            as_postgres,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "olistlake",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            sock.display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                pg.dir.path().join("log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        pg.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "olistlake",
                "olistlake",
            ],
        );
        pg
    }

    fn run(&self, prog: &str, args: &[&str]) {
        let exe = self.bin.join(prog);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{prog} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn sqlalchemy_url(&self) -> String {
        self.url
            .replacen("postgres://", "postgresql+psycopg2://", 1)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", data.to_str().unwrap(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

/// Which catalog and warehouse a test uses; builds commands with the matching environment.
pub struct LakeEnv {
    pub warehouse: String,
    pub catalog_uri: String,
    /// SQLAlchemy URI of the same catalog, for pyiceberg.
    pub py_uri: String,
    pub env: Vec<(String, String)>,
    // Fields drop in order: the services stop before their directory is deleted (the REST
    // catalog's stop reads its pid file there).
    _rest: Option<RestCatalogServer>,
    _pg: Option<Postgres>,
    _s3: Option<S3Server>,
    _dir: TempDir,
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    LocalSqlite,
    LocalPostgres,
    S3Sqlite,
    /// An Iceberg REST catalog server (Iceberg's own, `tests/support/rest-catalog.sh`) over a
    /// SQLite JDBC catalog, local warehouse.
    LocalRest,
}

/// A running Iceberg REST catalog server, stopped on drop.
pub struct RestCatalogServer {
    dir: PathBuf,
    pub url: String,
}

impl RestCatalogServer {
    /// Starts a server keeping its catalog in `dir` and its tables under `warehouse`.
    pub fn start(dir: &Path, warehouse: &Path) -> RestCatalogServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rest-catalog.sh");
        let state = dir.join("rest-catalog");
        let out = Command::new(script)
            .arg("start")
            .arg(&state)
            .arg(format!(
                "jdbc:sqlite:{}",
                state.join("catalog.db").display()
            ))
            .arg(format!("file://{}", warehouse.display()))
            .stderr(Stdio::inherit())
            .output()
            .expect("run rest-catalog.sh");
        assert!(out.status.success(), "REST catalog server did not start");
        RestCatalogServer {
            dir: state,
            url: String::from_utf8(out.stdout).unwrap().trim().to_string(),
        }
    }
}

impl Drop for RestCatalogServer {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/rest-catalog.sh");
        let _ = Command::new(script).arg("stop").arg(&self.dir).status();
    }
}

impl LakeEnv {
    pub fn new(backend: Backend) -> LakeEnv {
        let dir = TempDir::new().unwrap();
        let sqlite = dir.path().join("catalog.db");
        let mut env = vec![("OLISTLAKE_LOG".to_string(), "warn".to_string())];
        let mut rest = None;
        let (warehouse, catalog_uri, py_uri, s3, pg) = match backend {
            Backend::LocalSqlite => {
                let w = dir.path().join("warehouse");
                (
                    w.display().to_string(),
                    format!("sqlite:{}", sqlite.display()),
                    format!("sqlite:///{}", sqlite.display()),
                    None,
                    None,
                )
            }
            Backend::LocalPostgres => {
                let pg = Postgres::start();
                let w = dir.path().join("warehouse");
                (
                    w.display().to_string(),
                    pg.url.clone(),
                    pg.sqlalchemy_url(),
                    None,
                    Some(pg),
                )
            }
            Backend::S3Sqlite => {
                let s3 = S3Server::start();
                env.push(("AWS_ACCESS_KEY_ID".into(), s3.access_key.clone()));
                env.push(("AWS_SECRET_ACCESS_KEY".into(), s3.secret_key.clone()));
                env.push(("OLISTLAKE_S3_ENDPOINT".into(), s3.endpoint.clone()));
                (
                    format!("s3://{}/warehouse", s3.bucket),
                    format!("sqlite:{}", sqlite.display()),
                    format!("sqlite:///{}", sqlite.display()),
                    Some(s3),
                    None,
                )
            }
            Backend::LocalRest => {
                let w = dir.path().join("warehouse");
                let server = RestCatalogServer::start(dir.path(), &w);
                let url = server.url.clone();
                rest = Some(server);
                (w.display().to_string(), url.clone(), url, None, None)
            }
        };
        env.push(("OLISTLAKE_WAREHOUSE".into(), warehouse.clone()));
        env.push(("OLISTLAKE_CATALOG_URI".into(), catalog_uri.clone()));
        LakeEnv {
            warehouse,
            catalog_uri,
            py_uri,
            env,
            _dir: dir,
            _s3: s3,
            _pg: pg,
            _rest: rest,
        }
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The warehouse as pyiceberg wants it.
    pub fn py_warehouse(&self) -> String {
        if self.warehouse.starts_with("s3://") {
            self.warehouse.clone()
        } else {
            format!("file://{}", self.warehouse)
        }
    }

    /// Sets this lake's variables in the current process (for in-process library use).
    pub fn lake_args(&self) -> olistlake::config::LakeArgs {
        let get = |k: &str| {
            self.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        // Credentials are read from the process environment by design; set them here.
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            if let Some(v) = get(k) {
                // SAFETY: tests set these once, before any thread reads them concurrently
                // with a different value (every S3 test uses the same constant credentials).
                unsafe { std::env::set_var(k, v) };
            }
        }
        olistlake::config::LakeArgs {
            warehouse: self.warehouse.clone(),
            catalog_uri: Some(self.catalog_uri.clone()),
            catalog_warehouse: None,
            catalog_name: "olistlake".into(),
            s3_endpoint: get("OLISTLAKE_S3_ENDPOINT"),
            s3_region: "us-east-1".into(),
            s3_path_style: true,
            max_snapshots: olistlake::lake::DEFAULT_MAX_SNAPSHOTS,
        }
    }

    pub async fn lake(&self) -> olistlake::lake::Lake {
        olistlake::lake::Lake::open(&self.lake_args().resolve().unwrap())
            .await
            .unwrap()
    }

    /// The local directory holding a table's files: the warehouse's, or for S3 the store's
    /// own directory (s3s-fs keeps each object as a file).
    pub fn table_dir(&self, namespace: &str, table: &str) -> PathBuf {
        let root = match &self._s3 {
            Some(s3) => s3.bucket_dir().join("warehouse"),
            None => PathBuf::from(&self.warehouse),
        };
        root.join(namespace).join(table)
    }

    /// `olistlake rewrite-data-files` on every table, a partition rewritten once it has
    /// `min_input_files` small files: the partitions it rewrote, per table.
    pub fn compact(&self, min_input_files: usize) -> std::collections::BTreeMap<String, u64> {
        let out = run_ok(self.bin("olistlake").args([
            "rewrite-data-files",
            "--json",
            "--min-input-files",
            &min_input_files.to_string(),
        ]));
        let outcomes: Value = serde_json::from_slice(&out.stdout).unwrap();
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let table = o["table"].as_str().unwrap().to_string();
                (table, o["partitions_rewritten"].as_u64().unwrap())
            })
            .collect()
    }

    /// A command running one of the project's binaries against this lake.
    pub fn bin(&self, name: &str) -> Command {
        let mut c = Command::new(binary(name));
        c.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c.env_remove("OLISTLAKE_RUN_ID");
        c
    }

    /// Runs the pyiceberg reader and parses its JSON answer.
    pub fn py(&self, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/iceberg_reader.py");
        let out = Command::new(python())
            .arg(script)
            .args(["--uri", &self.py_uri, "--warehouse", &self.py_warehouse()])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "pyiceberg reader {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("reader JSON")
    }
}

pub fn binary(name: &str) -> PathBuf {
    // Cargo builds every binary of the package before running integration tests.
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_olistlake"));
    exe.with_file_name(name)
}

pub fn python() -> PathBuf {
    tool(
        "OLISTLAKE_PYTHON",
        cache_dir().join("venv-pyiceberg/bin/python"),
        "pyiceberg venv python",
    )
}

/// The DuckDB venv's Python (benches/duckdb_transforms.py).
pub fn duckdb_python() -> PathBuf {
    tool(
        "OLISTLAKE_DUCKDB_PYTHON",
        cache_dir().join("venv-duckdb/bin/python"),
        "DuckDB venv python",
    )
}

/// The Superset venv's Python (Superset, DuckDB with the iceberg extension, Playwright).
pub fn superset_python() -> PathBuf {
    tool(
        "OLISTLAKE_SUPERSET_PYTHON",
        cache_dir().join("venv-superset/bin/python"),
        "Superset venv python",
    )
}

/// Every batch of `DIR/TABLE.parquet` (the prepare step's output).
pub fn read_parquet_table(dir: &Path, table: &str) -> Vec<arrow::array::RecordBatch> {
    let f = std::fs::File::open(dir.join(format!("{table}.parquet"))).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// The fixture, prepared into a temporary directory.
pub fn prepared_fixture() -> TempDir {
    let dir = TempDir::new().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fixture");
    run_ok(
        Command::new(binary("olist-prepare"))
            .arg("--input")
            .arg(&fixture)
            .arg("--out")
            .arg(dir.path()),
    );
    dir
}

/// Every value of a query result as text (null stays None), rows sorted: for comparing table
/// contents.
pub fn text_rows(batches: &[arrow::array::RecordBatch]) -> Vec<Vec<Option<String>>> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let opts = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            rows.push(
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| c.is_valid(i).then(|| f.value(i).to_string()))
                    .collect(),
            );
        }
    }
    rows.sort();
    rows
}

/// Table contents by `namespace.table`, as sorted text rows.
pub type Contents = std::collections::BTreeMap<String, Vec<Vec<Option<String>>>>;

/// Every table of `namespaces` (but `_quarantine`), whole, as text, without the `skip` columns
/// (those that differ between equal loads, such as `_loaded_at`).
pub async fn lake_contents(
    lake: &olistlake::lake::Lake,
    namespaces: &[&str],
    skip: &[&str],
) -> Contents {
    let mut out = Contents::new();
    for def in olistlake::lake::tables::ALL
        .iter()
        .filter(|d| namespaces.contains(&d.namespace) && d.name != "_quarantine")
    {
        let cols: Vec<&str> = def
            .columns
            .iter()
            .map(|c| c.0)
            .filter(|c| !skip.contains(c))
            .collect();
        let q = format!("SELECT {} FROM {}", cols.join(", "), def.qualified());
        let batches = lake
            .sql(&q, &olistlake::lake::ReadAt::current())
            .await
            .unwrap();
        out.insert(def.qualified(), text_rows(&batches));
    }
    out
}

/// The rows of the pyiceberg reader's JSON (`rows` of its `rows` command, or a snapshot's).
pub fn py_rows(v: &Value) -> Vec<Vec<Option<String>>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The JSON summary a job prints as its last stdout line.
pub fn summary(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "no stdout; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "last line is not JSON ({e}): {last}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Spawns `cmd` with the writers' commit failpoint (it announces `failpoint: …` on stderr once
/// a commit's data files are written, then sleeps `pause_ms` before committing) and returns
/// once its `nth` pause has begun (a writer committing one table at a time has then done
/// `nth - 1` commits; silver and gold jobs commit two at a time). The
/// rest of its stderr is drained. Panics if the process ends first, or is still short of the
/// pause after 60 s.
pub fn paused_before_commit(cmd: &mut Command, pause_ms: u64, nth: usize) -> Child {
    paused_before_commit_to(cmd, pause_ms, nth, "")
}

/// [`paused_before_commit`], counting only the pauses before commits to tables whose name
/// starts with `tables` (`"silver."`: not the state tables a run may refresh first).
pub fn paused_before_commit_to(
    cmd: &mut Command,
    pause_ms: u64,
    nth: usize,
    tables: &str,
) -> Child {
    use std::io::{BufRead, BufReader};

    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .env(
            "OLISTLAKE_FAILPOINT_PAUSE_BEFORE_COMMIT_MS",
            pause_ms.to_string(),
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut seen, mut line) = (0, String::new());
    while seen < nth {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "{program} ended before its pause number {nth}"
        );
        if line.starts_with(&format!("failpoint: {tables}")) {
            seen += 1;
        }
        assert!(
            Instant::now() < deadline,
            "{program} never reached its pause number {nth}"
        );
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    child
}

/// The Parquet footer of a data file of a local lake, by the file's URI as a manifest names it
/// (`file:///…` or `file:/…`).
pub fn parquet_metadata(uri: &str) -> parquet::file::metadata::ParquetMetaData {
    use parquet::file::reader::FileReader;
    let path = uri
        .trim_start_matches("file://")
        .trim_start_matches("file:");
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parquet::file::reader::SerializedFileReader::new(file)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .metadata()
        .clone()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Apache Kafka in KRaft mode (`tests/support/kafka.sh`): one node, or a cluster of three
/// (replication factor 3, `min.insync.replicas=2`), each a Java process on free 127.0.0.1
/// ports. Data lives in a temporary directory, so nodes can be killed and started again on it.
pub struct Broker {
    pub bootstrap: String,
    dir: TempDir,
}

fn kafka_sh(args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kafka.sh");
    let out = Command::new(script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/support/kafka.sh");
    assert!(out.status.success(), "kafka.sh {args:?} failed");
    out
}

impl Broker {
    /// One node.
    pub fn start() -> Broker {
        Broker::cluster(1)
    }

    /// `nodes` nodes, each broker and controller.
    pub fn cluster(nodes: usize) -> Broker {
        let dir = TempDir::new().unwrap();
        let out = kafka_sh(&["start", &dir.path().to_string_lossy(), &nodes.to_string()]);
        Broker {
            bootstrap: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            dir,
        }
    }

    fn dir(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }

    /// Starts every node that is down again, on the same ports and data, and waits for them.
    pub fn resume(&mut self) {
        kafka_sh(&["start", &self.dir()]);
    }

    /// Kills every node (SIGKILL), keeping the data.
    pub fn kill(&mut self) {
        kafka_sh(&["kill", &self.dir()]);
    }

    /// Kills one node (1-based) with SIGKILL.
    pub fn kill_node(&mut self, node: usize) {
        kafka_sh(&["kill", &self.dir(), &node.to_string()]);
    }

    /// The pid of each running node, by node number.
    pub fn pids(&self) -> Vec<(usize, u32)> {
        let out = kafka_sh(&["pids", &self.dir()]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (n, p) = l.split_once(' ')?;
                Some((n.parse().ok()?, p.trim().parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kafka.sh"))
            .args(["kill", &self.dir()])
            .status();
    }
}

/// A stand-in for the Confluent Schema Registry, served on a free port for the HTTP client's
/// tests: POST /subjects/{s}/versions (409 when not BACKWARD compatible), GET /schemas/ids/{id},
/// GET /subjects/{s}/versions/latest, PUT /config/{s}, with Confluent's error codes. It is a
/// test double: no Confluent-compatible registry installs from the registries this project's
/// machines reach; deployments use the Confluent Schema Registry container.
pub struct RegistryDouble {
    pub url: String,
}

impl RegistryDouble {
    pub fn start() -> RegistryDouble {
        use std::collections::BTreeMap;
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};

        #[derive(Default)]
        struct State {
            schemas: Vec<String>,
            subjects: BTreeMap<String, Vec<usize>>,
            compat: BTreeMap<String, String>,
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() || first.is_empty() {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let parts: Vec<&str> = first.split_whitespace().collect();
                    let (method, path) = (parts[0], parts[1]);
                    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut st = state.lock().unwrap();
                    let (code, out) = match (method, seg.as_slice()) {
                        ("POST", ["subjects", s, "versions"]) => {
                            let text = json["schema"].as_str().unwrap_or_default().to_string();
                            match apache_avro::Schema::parse_str(&text) {
                                Err(e) => (
                                    422,
                                    serde_json::json!({"error_code": 42201, "message": e.to_string()}),
                                ),
                                Ok(new) => {
                                    // stored as given (normalised JSON); the canonical form would drop logical types
                                    let canon = serde_json::to_string(&new).unwrap();
                                    let versions = st.subjects.get(*s).cloned().unwrap_or_default();
                                    if let Some(id) =
                                        versions.iter().find(|id| st.schemas[**id - 1] == canon)
                                    {
                                        (200, serde_json::json!({"id": id}))
                                    } else {
                                        let level = st
                                            .compat
                                            .get(*s)
                                            .cloned()
                                            .unwrap_or_else(|| "BACKWARD".into());
                                        let incompatible = level != "NONE"
                                            && versions.last().is_some_and(|last| {
                                                let prev = apache_avro::Schema::parse_str(&st.schemas[*last - 1]).unwrap();
                                                apache_avro::schema_compatibility::SchemaCompatibility::can_read(&prev, &new).is_err()
                                            });
                                        if incompatible {
                                            (
                                                409,
                                                serde_json::json!({"error_code": 409, "message": "Schema being registered is incompatible with an earlier schema"}),
                                            )
                                        } else {
                                            let id =
                                                match st.schemas.iter().position(|x| *x == canon) {
                                                    Some(i) => i + 1,
                                                    None => {
                                                        st.schemas.push(canon);
                                                        st.schemas.len()
                                                    }
                                                };
                                            st.subjects.entry(s.to_string()).or_default().push(id);
                                            (200, serde_json::json!({"id": id}))
                                        }
                                    }
                                }
                            }
                        }
                        ("GET", ["schemas", "ids", id]) => match id
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| st.schemas.get(i.wrapping_sub(1)))
                        {
                            Some(s) => (200, serde_json::json!({"schema": s})),
                            None => (
                                404,
                                serde_json::json!({"error_code": 40403, "message": "Schema not found"}),
                            ),
                        },
                        ("GET", ["subjects", s, "versions", "latest"]) => match st.subjects.get(*s)
                        {
                            Some(v) if !v.is_empty() => {
                                let id = *v.last().unwrap();
                                (
                                    200,
                                    serde_json::json!({"subject": s, "version": v.len(), "id": id, "schema": st.schemas[id - 1]}),
                                )
                            }
                            _ => (
                                404,
                                serde_json::json!({"error_code": 40401, "message": "Subject not found"}),
                            ),
                        },
                        ("PUT", ["config", s]) => {
                            let level = json["compatibility"]
                                .as_str()
                                .unwrap_or("BACKWARD")
                                .to_string();
                            st.compat.insert(s.to_string(), level.clone());
                            (200, serde_json::json!({"compatibility": level}))
                        }
                        _ => (
                            404,
                            serde_json::json!({"error_code": 404, "message": "Not found"}),
                        ),
                    };
                    drop(st);
                    let body = out.to_string();
                    let reason = match code {
                        200 => "OK",
                        404 => "Not Found",
                        409 => "Conflict",
                        _ => "Unprocessable Entity",
                    };
                    let mut s = &stream;
                    let _ = write!(
                        s,
                        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        RegistryDouble { url }
    }
}
