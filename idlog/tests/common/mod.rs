//! Running the real `idlog` binary in tests.

#![allow(dead_code, reason = "each test binary uses some of the helpers")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The binary under test.
pub const IDLOG: &str = env!("CARGO_BIN_EXE_idlog");

/// `idlog ARGS` in `dir` with only the given IDLOG_ variables (the test environment's are
/// dropped).
pub fn idlog(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(IDLOG);
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("IDLOG_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// Runs `idlog ARGS` in `dir` with no standard input.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    idlog(dir, args, env)
        .stdin(Stdio::null())
        .output()
        .expect("idlog runs")
}

/// What a run printed, both streams.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running server and the address it printed; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `idlog serve` in `dir` and waits for its address.
pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = idlog(dir, &["serve"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.split("listening on ").nth(1) {
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the server printed its address");
    Server { child, address }
}
