//! The web UI of `everynode up`, driven in headless Chromium while a rollout runs: only a
//! signed-in browser reads it, its grid's cells change revision as the pods do, its counters
//! reach the final numbers, and it shows a plan's waves.

mod common;

use std::time::Duration;

use common::Cluster;
use common::webdriver::Browser;
use serde_json::Value;

const RULES: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: everynode-simulation\n  namespace: kube-system\ndata:\n  rules.yaml: |\n    - image: 'app:*'\n      readySeconds: 1\n";

fn daemonset(image: &str, max_unavailable: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {{app: agent}}\n  updateStrategy:\n    rollingUpdate: {{maxUnavailable: {max_unavailable}}}\n  template:\n    metadata:\n      labels: {{app: agent}}\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
    )
}

/// What the page shows: each grid cell as the `[revision, state]` its pixels are drawn in
/// (read back from the canvas), and the counters' text.
const SHOWN: &str = r#"
const e = window.everynode;
if (!e || !e.view.frame) return null;
const v = e.view, g = v.geometry, ctx = document.getElementById('grid').getContext('2d');
const text = (id) => document.getElementById(id).textContent;
const cells = [];
for (let i = 0; i < g.n; i++) {
  const x = (i % g.cols) * g.size + Math.floor((g.size - g.gap) / 2);
  const y = Math.floor(i / g.cols) * g.size + Math.floor((g.size - g.gap) / 2);
  const d = ctx.getImageData(x, y, 1, 1).data;
  let shown = null;
  for (const r of [0, 1, 2, 3]) for (const s of [0, 1, 2, 3, 4]) {
    const c = e.color(r, s, v.frame.revision);
    if (!shown && c[0] === d[0] && c[1] === d[1] && c[2] === d[2]) shown = [r, s];
  }
  cells.push(shown);
}
return {cells, desired: text('desired'), updated: text('updated'), available: text('available'),
        revision: text('revision'), points: v.points.length,
        events: document.querySelectorAll('#events li:not(.none)').length,
        title: document.title, drawn: v.drawn};
"#;

fn all_cells(shown: &Value, revision: u64, state: u64) -> bool {
    shown["cells"].as_array().is_some_and(|c| {
        !c.is_empty()
            && c.iter().all(|cell| cell[0].as_u64() == Some(revision) && cell[1].as_u64() == Some(state))
    })
}

fn cells_of(shown: &Value, revision: u64) -> usize {
    shown["cells"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|cell| cell[0].as_u64() == Some(revision)).count())
}

#[test]
fn the_live_view_follows_a_rollout_for_a_signed_in_browser_only() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "40"]);
    k.apply(RULES);
    k.apply(&daemonset("app:1", "8"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    let b = Browser::start(1200, 900);

    // Without signing in, neither the page nor its data.
    b.goto(&format!("{}/ui/", k.url));
    assert_eq!(b.eval("return document.title"), "everynode: sign in");
    b.goto(&format!("{}/ui/api/daemonsets", k.url));
    let body = b.eval("return document.body.innerText");
    assert!(body.as_str().unwrap().contains("sign in first"), "{body}");

    // The one-time link signs in, once.
    b.goto(&k.ui_link);
    let shown =
        b.wait_for("the page shows 40 Ready nodes on revision 1", Duration::from_secs(20), SHOWN, |v| {
            v["desired"] == "40"
                && v["available"] == "40"
                && all_cells(v, 1, 3)
                && v["cells"].as_array().unwrap().len() == 40
        });
    assert_eq!(shown["title"], "everynode");
    assert_eq!(shown["revision"], "revision 1");
    b.goto(&k.ui_link);
    let body = b.eval("return document.body.innerText").as_str().unwrap().to_string();
    assert!(body.contains("used already"), "{body}");
    b.goto(&format!("{}/ui/", k.url));
    b.wait_for("the page again", Duration::from_secs(10), SHOWN, |v| all_cells(v, 1, 3));

    // A rollout: cells move from revision 1 to 2, some at a time.
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    let mut mixed = false;
    let end = b.wait_for("every cell on revision 2, available", Duration::from_secs(60), SHOWN, |v| {
        let (old, new) = (cells_of(v, 1), cells_of(v, 2));
        mixed |= old > 0 && new > 0 && old + new <= 40;
        all_cells(v, 2, 3) && v["updated"] == "40" && v["available"] == "40"
    });
    assert!(mixed, "the grid showed both revisions during the rollout");
    assert_eq!(end["revision"], "revision 2");
    assert!(end["points"].as_u64().unwrap() >= 3, "the timeline has the rollout's points: {end}");
    assert!(end["events"].as_u64().unwrap() >= 1, "recent events are listed: {end}");

    // A plan of the next image, shown as waves: 40 nodes, 8 at a time.
    b.eval(
        "document.getElementById('plan-image').value = 'app:3';
         document.getElementById('plan-form').requestSubmit(); return null;",
    );
    let total = b.wait_for(
        "the plan's total",
        Duration::from_secs(20),
        "const t = document.getElementById('plan-total'); return t ? t.textContent : null;",
        |v| v.is_string(),
    );
    assert!(total.as_str().unwrap().ends_with(" in 5 waves"), "{total}");
    // Planning changed nothing.
    assert_eq!(
        k.ok(&["get", "ds", "agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]),
        "app:2"
    );
}

/// Writes `docs/ui-rollout.png`: the live view of a 1,000-node rollout, halfway.
/// `cargo test -p everynode --test ui -- --ignored`
#[test]
#[ignore]
fn screenshot_of_a_thousand_node_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "1000"]);
    k.apply(&RULES.replace("readySeconds: 1", "readySeconds: 4"));
    k.apply(&daemonset("app:1", "10%"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=300s"]);
    let b = Browser::start(1400, 1000);
    b.goto(&k.ui_link);
    b.wait_for("1,000 nodes shown", Duration::from_secs(60), SHOWN, |v| v["available"] == "1000");
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    b.wait_for("the rollout halfway", Duration::from_secs(300), SHOWN, |v| {
        v["revision"] == "revision 2"
            && v["updated"]
                .as_str()
                .and_then(|u| u.parse::<u32>().ok())
                .is_some_and(|u| (450..900).contains(&u))
    });
    let png = b.screenshot();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui-rollout.png");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, png).unwrap();
}

/// A benchmark, not a timed test: how busy the page is while it follows a rollout over 5,000
/// nodes. Prints the page's own timings (frames taken in, grid draws, the browser's long tasks)
/// and the round trip of a trivial script, which waits for the page's main thread.
/// `cargo test --release -p everynode --test ui -- --ignored five_thousand --nocapture`
#[test]
#[ignore]
fn the_page_at_five_thousand_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let k = Cluster::start(dir.path(), &["--workers", "5000"]);
    k.apply(&RULES.replace("readySeconds: 1", "readySeconds: 2"));
    k.apply(&daemonset("app:1", "10%"));
    k.ok(&["rollout", "status", "ds/agent", "--timeout=600s"]);
    let b = Browser::start(1400, 1000);
    b.goto(&k.ui_link);
    b.wait_for("5,000 nodes shown", Duration::from_secs(120), SHOWN, |v| v["available"] == "5000");
    b.eval("const s = window.everynode.stats; for (const t of Object.values(s)) { t.count = 0; t.totalMs = 0; t.maxMs = 0; } return null;");
    k.ok(&["set", "image", "ds/agent", "agent=app:2"]);
    let started = std::time::Instant::now();
    let mut round_trips = Vec::new();
    let mut moving = false;
    loop {
        let t = std::time::Instant::now();
        let v = b.eval(
            "const t = (id) => document.getElementById(id).textContent;
             return `${t('revision')} ${t('updated')} ${t('available')}`",
        );
        round_trips.push(t.elapsed().as_secs_f64() * 1000.0);
        // Until the controller has seen the change, the status still counts the old pods.
        moving |= v != "revision 1 5000 5000" && v != "revision 2 5000 5000";
        if (moving && v == "revision 2 5000 5000") || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let rollout = started.elapsed().as_secs_f64();
    let stats = b.eval("return window.everynode.stats");
    round_trips.sort_by(f64::total_cmp);
    let pct = |p: f64| round_trips[((round_trips.len() - 1) as f64 * p) as usize];
    let line = |name: &str, t: &Value| {
        let count = t["count"].as_f64().unwrap_or(0.0);
        let mean = if count > 0.0 { t["totalMs"].as_f64().unwrap() / count } else { 0.0 };
        println!(
            "{name:<22} {count:>6}   mean {mean:>7.2} ms   max {:>7.2} ms",
            t["maxMs"].as_f64().unwrap()
        );
    };
    println!("rollout of 5,000 nodes followed for {rollout:.1} s");
    line("frames taken in", &stats["frame"]);
    line("grid draws", &stats["draw"]);
    line("long tasks (>50 ms)", &stats["longTask"]);
    println!(
        "script round trip      {:>6}   p50 {:>8.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        round_trips.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
