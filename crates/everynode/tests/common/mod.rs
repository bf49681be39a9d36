//! Runs the real `everynode up` binary in a temporary data dir, and the real `kubectl` against
//! it with its own HOME (so kubectl's discovery cache is per test).
#![allow(dead_code)]

pub mod webdriver;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Parses what `kubectl … -o json` printed.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("kubectl printed JSON")
}

pub struct Cluster {
    pub child: Child,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub kubeconfig: PathBuf,
    pub url: String,
    /// The web UI's one-time login link.
    pub ui_link: String,
}

impl Cluster {
    /// Starts `everynode up --port 0` with `args` on `dir` and waits for its ready line.
    pub fn start(dir: &Path, args: &[&str]) -> Cluster {
        Cluster::start_with(dir, args, "warn", Stdio::inherit())
    }

    /// As [`Cluster::start`], its log (at the default level, as a user sees it) written to
    /// `log`.
    pub fn start_logged(dir: &Path, args: &[&str], log: &Path) -> Cluster {
        Cluster::start_with(dir, args, "info", std::fs::File::create(log).unwrap().into())
    }

    fn start_with(dir: &Path, args: &[&str], level: &str, stderr: Stdio) -> Cluster {
        let mut child = Command::new(env!("CARGO_BIN_EXE_everynode"))
            .args(["up", "--port", "0", "--data-dir"])
            .arg(dir)
            .args(args)
            .env("RUST_LOG", level)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("everynode starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reads the ready line");
        // "Its live view: https://127.0.0.1:PORT/ui/login?token=… (a one-time link)"
        let mut view = String::new();
        stdout.read_line(&mut view).expect("reads the live view's line");
        let ui_link = view
            .strip_prefix("Its live view: ")
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("live view line: {view:?}"))
            .to_string();
        // "everynode is up at https://127.0.0.1:PORT: export KUBECONFIG=/path/kubeconfig"
        let (head, path) =
            line.trim().split_once(": export KUBECONFIG=").unwrap_or_else(|| panic!("ready line: {line:?}"));
        let url = head.trim_start_matches("everynode is up at ").to_string();
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Cluster { child, dir: dir.to_path_buf(), home, kubeconfig: PathBuf::from(path), url, ui_link }
    }

    /// A `kubectl` command aimed at this cluster.
    pub fn kubectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        cmd
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_cmd(args).output().expect("kubectl runs")
    }

    /// Runs kubectl, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// One row per pod that `selector` matches: the values of the JSONPath `fields` (such as
    /// `.spec.nodeName`), empty where a pod has none.
    pub fn pod_rows(&self, selector: &str, fields: &[&str]) -> Vec<Vec<String>> {
        let cells: Vec<String> = fields.iter().map(|f| format!("{{{f}}}")).collect();
        let template = format!("jsonpath={{range .items[*]}}{}{{\"\\n\"}}{{end}}", cells.join("{\"\\t\"}"));
        let out = self.ok(&["get", "pods", "-l", selector, "-o", &template]);
        out.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
    }

    /// `kubectl everynode ARGS…`: the plugin found on the PATH as kubectl finds plugins.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let exe = Path::new(env!("CARGO_BIN_EXE_kubectl-everynode"));
        let path =
            format!("{}:{}", exe.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
        let mut all = vec!["everynode"];
        all.extend_from_slice(args);
        let mut cmd = self.kubectl_cmd(&all);
        cmd.env("PATH", path);
        cmd
    }

    /// The plugin's output, asserting success.
    pub fn plugin_ok(&self, args: &[&str]) -> String {
        let out = self.plugin(args).output().unwrap();
        assert!(out.status.success(), "kubectl everynode {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl, asserts failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should fail: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8")
    }

    /// `kubectl apply -f -` with `manifest` on stdin.
    pub fn apply(&self, manifest: &str) -> String {
        let mut child = self
            .kubectl_cmd(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(manifest.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Polls `check` until it holds (10 s at most).
    pub fn eventually(&self, what: &str, check: impl FnMut() -> bool) {
        self.eventually_within(what, Duration::from_secs(10), check)
    }

    /// Polls `check` every 100 ms until it holds, for `limit` at most.
    pub fn eventually_within(&self, what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        signal(&self.child, "TERM");
        let status = self.child.wait().expect("waits");
        assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        signal(&self.child, "KILL");
        let _ = self.child.wait();
    }

    /// A kube-rs client through the written kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
        kube::Client::try_from(config).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// The whitespace-separated words of the first line (a table header).
pub fn header(output: &str) -> Vec<String> {
    output.lines().next().unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

pub fn words(list: &str) -> Vec<String> {
    list.split_whitespace().map(str::to_string).collect()
}
