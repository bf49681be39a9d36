//! Watches: from a resourceVersion, with selectors, bookmarks, timeouts, and 410 Gone past
//! the retained window.

mod common;

use std::time::Duration;

use common::{TestServer, from_json};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

fn cm(name: &str, app: &str) -> ConfigMap {
    from_json(json!({"metadata": {"name": name, "labels": {"app": app}}}))
}

/// The next event, skipping bookmarks unless asked for.
async fn next<S>(stream: &mut S) -> WatchEvent<ConfigMap>
where
    S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, kube::Error>> + Unpin,
{
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("an event within 10s")
            .expect("stream ok")
            .expect("stream open");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            return ev;
        }
    }
}

fn describe(ev: &WatchEvent<ConfigMap>) -> String {
    match ev {
        WatchEvent::Added(o) => format!("ADDED {}", o.name_any()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.name_any()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.name_any()),
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn watch_from_a_resource_version_sees_later_changes_in_order() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let first = cms.create(&PostParams::default(), &cm("before", "x")).await.unwrap();
    let rv = first.resource_version().unwrap();
    cms.create(&PostParams::default(), &cm("after", "x")).await.unwrap();
    cms.patch("after", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}}))).await.unwrap();
    cms.delete("after", &DeleteParams::default()).await.unwrap();

    // Resuming from `rv` replays exactly what happened after it.
    let mut stream = cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next(&mut stream).await));
    }
    assert_eq!(seen, ["ADDED after", "MODIFIED after", "DELETED after"]);

    // And then live events.
    cms.create(&PostParams::default(), &cm("live", "x")).await.unwrap();
    assert_eq!(describe(&next(&mut stream).await), "ADDED live");
}

#[tokio::test]
async fn watch_with_selectors_translates_transitions() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let rv =
        cms.create(&PostParams::default(), &cm("seed", "none")).await.unwrap().resource_version().unwrap();
    let mut stream = cms.watch(&WatchParams::default().labels("app=web"), &rv).await.unwrap().boxed();
    let mut by_name =
        cms.watch(&WatchParams::default().fields("metadata.name=b"), &rv).await.unwrap().boxed();

    cms.create(&PostParams::default(), &cm("a", "db")).await.unwrap();
    cms.create(&PostParams::default(), &cm("b", "web")).await.unwrap();
    assert_eq!(describe(&next(&mut stream).await), "ADDED b");
    assert_eq!(describe(&next(&mut by_name).await), "ADDED b");
    // `a` starts matching: ADDED; `b` stops matching: DELETED.
    cms.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})))
        .await
        .unwrap();
    assert_eq!(describe(&next(&mut stream).await), "ADDED a");
    cms.patch("b", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})))
        .await
        .unwrap();
    assert_eq!(describe(&next(&mut stream).await), "DELETED b");
    assert_eq!(describe(&next(&mut by_name).await), "MODIFIED b");
}

#[tokio::test]
async fn watch_past_the_retained_window_is_gone() {
    let ts = TestServer::start_with(|c| c.watch_history = 5).await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let old = cms.create(&PostParams::default(), &cm("c0", "x")).await.unwrap().resource_version().unwrap();
    for i in 1..20 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), "x")).await.unwrap();
    }
    let mut stream = cms.watch(&WatchParams::default(), &old).await.unwrap().boxed();
    match next(&mut stream).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(e.message.contains("too old resource version"), "{}", e.message);
        }
        other => panic!("expected 410, got {}", describe(&other)),
    }
    // A recent version still resumes.
    let recent = cms.get("c19").await.unwrap().resource_version().unwrap();
    let mut ok = cms.watch(&WatchParams::default(), &recent).await.unwrap().boxed();
    cms.create(&PostParams::default(), &cm("c20", "x")).await.unwrap();
    assert_eq!(describe(&next(&mut ok).await), "ADDED c20");
}

/// A paginated list goes on however many events the history dropped since its first page:
/// at 50,000 nodes the history holds five seconds of Lease renewals, less than a long
/// `kubectl get nodes` takes. Every page reports the first page's resourceVersion, and a watch
/// from it is told 410 once the history no longer reaches back to it, so an informer lists
/// again rather than miss a change. A token expires five minutes after its first page, as
/// upstream's does when etcd compacts its revision.
#[tokio::test]
async fn a_paginated_list_outlives_the_watch_history_but_not_five_minutes() {
    let ts = TestServer::start_with(|c| c.watch_history = 5).await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    for i in 0..3 {
        cms.create(&PostParams::default(), &cm(&format!("a{i}"), "x")).await.unwrap();
    }
    let first = cms.list(&kube::api::ListParams::default().limit(1)).await.unwrap();
    let (rv, token) = (first.metadata.resource_version.unwrap(), first.metadata.continue_.unwrap());
    for i in 0..20 {
        cms.create(&PostParams::default(), &cm(&format!("b{i:02}"), "x")).await.unwrap();
    }
    let rest = cms.list(&kube::api::ListParams::default().continue_token(&token)).await.unwrap();
    assert_eq!(rest.metadata.resource_version.as_deref(), Some(rv.as_str()));
    // a1, a2, the twenty b, and kube-root-ca.crt.
    assert_eq!(rest.items.len(), 23, "the second and later pages");
    let mut stream = cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match next(&mut stream).await {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {}", describe(&other)),
    }

    // The same token, its first page six minutes ago.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut fields: Vec<Value> = serde_json::from_slice(&engine.decode(&token).unwrap()).unwrap();
    let at = fields[3].as_i64().expect("the first page's time");
    fields[3] = json!(at - 360);
    let old = engine.encode(serde_json::to_vec(&fields).unwrap());
    match cms.list(&kube::api::ListParams::default().continue_token(&old)).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
            assert!(s.message.contains("continue parameter is too old"), "{}", s.message);
        }
        other => panic!("an expired continue token was taken: {other:?}"),
    }
}

#[tokio::test]
async fn bookmarks_and_timeouts() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let rv = cms.create(&PostParams::default(), &cm("a", "x")).await.unwrap().resource_version().unwrap();
    let mut stream =
        cms.watch(&WatchParams { bookmarks: true, ..Default::default() }, &rv).await.unwrap().boxed();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await.unwrap().unwrap().unwrap();
    match ev {
        WatchEvent::Bookmark(b) => {
            assert!(b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap())
        }
        other => panic!("expected a bookmark, got {}", describe(&other)),
    }

    let mut short = cms.watch(&WatchParams::default().timeout(1), &rv).await.unwrap().boxed();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = short.next().await {
            ev.unwrap();
        }
    })
    .await;
    assert!(ended.is_ok(), "timeoutSeconds ends the stream");
}

#[tokio::test]
async fn many_watchers_all_see_every_event() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let rv = cms.create(&PostParams::default(), &cm("seed", "x")).await.unwrap().resource_version().unwrap();
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(cms.watch(&WatchParams::default(), &rv).await.unwrap().boxed());
    }
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("m{i}"), "x")).await.unwrap();
    }
    for s in &mut streams {
        for i in 0..10 {
            assert_eq!(describe(&next(s).await), format!("ADDED m{i}"));
        }
    }
}

/// Names and resourceVersions of what a watcher (or a list) holds.
type Seen = std::collections::BTreeMap<String, String>;

/// Follows `api` with kube-rs's watcher as informers do, keeping what it has seen in `seen`
/// and counting its (re)lists; while `stalled` is set it takes no event (a consumer stuck in a
/// pause), so the server cuts it loose.
async fn follow(
    api: Api<ConfigMap>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    lists: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use kube::runtime::watcher::{self, Event};
    use std::sync::atomic::Ordering;
    let mut listing = Seen::new();
    let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
    loop {
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let Some(event) = events.next().await else { return };
        let Ok(event) = event else { continue };
        match event {
            Event::Init => listing.clear(),
            Event::InitApply(o) => {
                listing.insert(o.name_any(), o.resource_version().unwrap_or_default());
            }
            Event::InitDone => {
                *seen.lock().unwrap() = std::mem::take(&mut listing);
                lists.fetch_add(1, Ordering::SeqCst);
            }
            Event::Apply(o) => {
                seen.lock().unwrap().insert(o.name_any(), o.resource_version().unwrap_or_default());
            }
            Event::Delete(o) => {
                seen.lock().unwrap().remove(&o.name_any());
            }
        }
    }
}

/// Thousands of changes while several kube-rs watchers follow, one of them stalled through
/// the churn: each ends with exactly the final state, the stalled one after the server cut it
/// loose and it listed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_end_with_the_exact_final_state_under_churn() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    // A history (and so a lag allowed) of 2,000 events, a fraction of the churn below.
    let ts = TestServer::start_with(|c| c.watch_history = 2000).await;
    let client = ts.client().await;
    let ns = "churn";
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
    namespaces.create(&PostParams::default(), &from_json(json!({"metadata": {"name": ns}}))).await.unwrap();
    let cms = Api::<ConfigMap>::namespaced(client.clone(), ns);
    let mut watchers = Vec::new();
    for slow in [false, false, false, true] {
        let (seen, lists) = (Arc::new(Mutex::new(Seen::new())), Arc::new(AtomicUsize::new(0)));
        let stalled = Arc::new(AtomicBool::new(false));
        tokio::spawn(follow(cms.clone(), stalled.clone(), seen.clone(), lists.clone()));
        watchers.push((slow, stalled, seen, lists));
    }
    for (slow, stalled, _, lists) in &watchers {
        while lists.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stalled.store(*slow, Ordering::SeqCst);
    }

    // 1,500 objects, each changed five times, a third deleted: 9,500 events, some 35 MB.
    const OBJECTS: usize = 1500;
    futures::stream::iter(0..OBJECTS)
        .for_each_concurrent(32, |i| {
            let cms = cms.clone();
            async move {
                let name = format!("cm-{i}");
                cms.create(&PostParams::default(), &cm(&name, "churn")).await.unwrap();
                for round in 0..5 {
                    // Each event some kilobytes, so the stalled watcher's socket fills.
                    let patch =
                        Patch::Merge(json!({"data": {"round": round.to_string(), "pad": "x".repeat(4096)}}));
                    cms.patch(&name, &PatchParams::default(), &patch).await.unwrap();
                }
                if i % 3 == 0 {
                    cms.delete(&name, &DeleteParams::default()).await.unwrap();
                }
            }
        })
        .await;
    let list = cms.list(&Default::default()).await.unwrap();
    let last: Seen = list.items.iter().map(|o| (o.name_any(), o.resource_version().unwrap())).collect();
    assert_eq!(last.len(), OBJECTS - OBJECTS.div_ceil(3));

    for (slow, stalled, seen, lists) in &watchers {
        stalled.store(false, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while *seen.lock().unwrap() != last && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen = seen.lock().unwrap();
        let wrong = seen.iter().filter(|(k, v)| last.get(*k) != Some(*v)).count();
        let missing = last.keys().filter(|k| !seen.contains_key(*k)).count();
        assert!(*seen == last, "a watcher (slow: {slow}) ends with {wrong} wrong and {missing} missing");
        let lists = lists.load(Ordering::SeqCst);
        if *slow {
            assert!(lists > 1, "the stalled watcher listed again after it was cut loose");
        } else {
            assert_eq!(lists, 1, "a watcher that kept up never had to list again");
        }
    }
}
