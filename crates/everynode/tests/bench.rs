//! `everynode bench` at 100 nodes: every phase completes (nodes Ready, baseline pods ready,
//! the DaemonSet ready on every node, both rollouts complete) and the table is written.
//! Correctness only; the figures themselves are never asserted.

use std::process::Command;

#[test]
fn bench_at_100_nodes_completes_and_writes_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("BENCHMARKS.md");
    std::fs::write(&output, "# Benchmarks\n\nHand-written text stays.\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_everynode"))
        .args(["bench", "--nodes", "100", "--output"])
        .arg(&output)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    for phase in ["nodes Ready", "baseline pods ready", "DaemonSet pods ready", "rollout, maxSurge 10%"] {
        assert!(stderr.contains(&format!("{phase} [####################]")), "{phase} finished: {stderr}");
    }
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.starts_with("# Benchmarks\n\nHand-written text stays.\n"), "{written}");
    assert!(written.contains("<!-- everynode bench: start -->"));
    assert!(written.contains("`cargo run --release -- bench --nodes 100`"), "{written}");
    let row = written.lines().find(|l| l.starts_with("| 100 |")).unwrap_or_else(|| panic!("{written}"));
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    assert_eq!(cells.len(), 12, "{row}");
    // Every figure was measured: a number followed by its unit.
    for cell in &cells[1..] {
        let number = cell.split([' ', '/']).next().unwrap();
        assert!(number.parse::<f64>().is_ok_and(f64::is_finite), "{cell} in {row}");
    }
}
