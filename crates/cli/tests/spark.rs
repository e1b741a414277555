//! Scale-out for real: the bundled MFTracer cases go into a store, `ashiato export` writes
//! them as Parquet partitions, and `tools/spark/trace_poison.py` traces every incident on
//! a Spark standalone master and worker started here on 127.0.0.1, with and without a
//! hop limit. Every result must equal `ashiato trace --policy poison --format json` as
//! a JSON value: each address with its taint, hop and path, each exit with its label,
//! amount, transfers and path, and every summary total.
//!
//! Needs Java 17 and pyspark 4.0.1 (`.ci/run` installs pyspark).

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ashiato_trace::TraceResult;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ashiato"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn python() -> String {
    std::env::var("PYSPARK_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The pyspark package directory, which is a Spark home (bin/spark-class, jars).
fn spark_home() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyspark is not installed for {} (pip install pyspark==4.0.1, as .ci/run does): {}",
        python(),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Spark's processes: killed when the test ends, passed or not.
struct Cluster {
    children: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spark_env(cmd: &mut Command, home: &Path) {
    cmd.env("SPARK_HOME", home)
        .env("PYSPARK_PYTHON", python())
        .env("PYSPARK_DRIVER_PYTHON", python())
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .env("SPARK_LOCAL_DIRS", std::env::temp_dir());
}

fn daemon(home: &Path, class: &str, args: &[&str], log: &Path) -> Child {
    let mut cmd = Command::new(home.join("bin/spark-class"));
    spark_env(&mut cmd, home);
    cmd.arg(class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(log).unwrap())
        .stderr(File::create(log.with_extension("err")).unwrap());
    cmd.spawn()
        .unwrap_or_else(|e| panic!("{class}: {e} (is Java 17 installed?)"))
}

fn wait_for(what: &str, logs: &Path, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{what} did not come up in 90 s; logs in {}",
            logs.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One `spark-submit` of the job for every (incident, hop limit) pair.
fn submit(home: &Path, master: &str, data: &Path, cases: &[(&str, &str)], out: &Path) -> PathBuf {
    let json = out.join("json");
    let mut cmd = Command::new(home.join("bin/spark-submit"));
    spark_env(&mut cmd, home);
    cmd.args(["--master", master])
        .args(["--conf", "spark.ui.enabled=false"])
        .args(["--conf", "spark.driver.host=127.0.0.1"])
        .args(["--conf", "spark.executor.memory=1g"])
        .arg(repo("tools/spark/trace_poison.py"))
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out.join("parquet"))
        .arg("--json-dir")
        .arg(&json);
    let mut incidents: Vec<&str> = cases.iter().map(|c| c.0).collect();
    incidents.dedup();
    for i in incidents {
        cmd.args(["--incident", i]);
    }
    let mut hops: Vec<&str> = cases.iter().map(|c| c.1).collect();
    hops.sort();
    hops.dedup();
    for h in hops {
        cmd.args(["--max-hops", h]);
    }
    run(&mut cmd);
    json
}

fn embedded(store: &Path, incident: &str, hops: &str) -> Value {
    let mut cmd = bin();
    cmd.args(["trace", "--store"]).arg(store).args([
        "--incident",
        incident,
        "--policy",
        "poison",
        "--format",
        "json",
    ]);
    if hops != "none" {
        cmd.args(["--max-hops", hops]);
    }
    serde_json::from_slice(&run(&mut cmd).stdout).unwrap()
}

/// The Spark result equals the walker's, and is a `TraceResult` `ashiato` can read.
fn check(store: &Path, json: &Path, incident: &str, hops: &str) -> TraceResult {
    let file = json.join(format!("{incident}.hops-{hops}.json"));
    let spark: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let want = embedded(store, incident, hops);
    for part in ["summary", "exits", "addresses"] {
        assert_eq!(
            spark[part], want[part],
            "{incident}, max hops {hops}: {part}"
        );
    }
    assert_eq!(spark, want, "{incident}, max hops {hops}");
    serde_json::from_value(spark).unwrap()
}

#[test]
fn spark_standalone_trace_equals_the_embedded_walker() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    run(bin()
        .args(["ingest", "--store"])
        .arg(&store)
        .arg(repo("data/eth-mftracer-cases")));
    let data = tmp.path().join("export");
    let out = run(bin()
        .args(["export", "--store"])
        .arg(&store)
        .args(["--chain", "ethereum", "--format", "parquet", "--out"])
        .arg(&data)
        .args(["--rows-per-part", "1000"]));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{}: 2814 transfers in 3 partition(s), 705 labels, 4 incidents\n",
            data.display()
        )
    );

    let home = spark_home();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (port, ui) = (free_port(), free_port());
    let mut cluster = Cluster {
        children: Vec::new(),
    };
    cluster.children.push(daemon(
        &home,
        "org.apache.spark.deploy.master.Master",
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--webui-port",
            &ui.to_string(),
        ],
        &logs.join("master.log"),
    ));
    wait_for("the Spark master", &logs, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let master = format!("spark://127.0.0.1:{port}");
    let work = tmp.path().join("work");
    cluster.children.push(daemon(
        &home,
        "org.apache.spark.deploy.worker.Worker",
        &[
            &master,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            &free_port().to_string(),
            "--work-dir",
            work.to_str().unwrap(),
        ],
        &logs.join("worker.log"),
    ));
    let state = format!("http://127.0.0.1:{ui}/json/");
    wait_for("the Spark worker", &logs, || {
        reqwest::blocking::get(&state)
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["aliveworkers"] == 1)
    });

    // Every incident without a hop limit, and two with one (hop cuts change holders' hops
    // and exits: the fixpoint is not monotone there).
    let cases = [
        ("Atomic", "none"),
        ("LIFI", "none"),
        ("TxPhish", "none"),
        ("XSam", "none"),
        ("Atomic", "3"),
        ("XSam", "3"),
    ];
    let json = submit(
        &home,
        &master,
        &data,
        &cases,
        &tmp.path().join("standalone"),
    );
    let mut sizes = Vec::new();
    for (incident, hops) in cases {
        let r = check(&store, &json, incident, hops);
        if hops != "none" {
            assert!(
                r.summary.cut_by_hops > 0,
                "{incident}: the limit cut nothing"
            );
            continue;
        }
        sizes.push((incident, r.addresses.len(), r.exits.len()));
    }
    // What the bundled cases give (so that two empty results could not pass).
    assert_eq!(
        sizes,
        [
            ("Atomic", 263, 101),
            ("LIFI", 59, 32),
            ("TxPhish", 136, 13),
            ("XSam", 367, 450)
        ]
    );
    let parquet = tmp
        .path()
        .join("standalone/parquet/XSam.hops-none/addresses");
    assert!(std::fs::read_dir(&parquet).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".parquet")));
    drop(cluster);
}
