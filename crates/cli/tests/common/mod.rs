//! What the command-line tests that run `ashiato` processes share.
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ashiato")
}

/// Runs `ashiato ARGS`, asserts it succeeded, returns its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let o = Command::new(bin()).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ashiato {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A child process killed when dropped: a failing test leaves no server behind.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (an `ashiato serve` or `watch --serve`), reads the URL from its first
/// stderr line `listening on http://…`, and keeps draining stderr.
pub fn start_server(mut cmd: Command) -> (Proc, String) {
    let mut child = Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the server's first stderr line: {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            eprintln!("server: {l}");
        }
    });
    (child, url)
}
