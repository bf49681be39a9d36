//! One DaemonSet sync against the API server (upstream `syncDaemonSet`): claim pods and
//! revisions, build history, then — when no earlier action is still unobserved — act on the
//! decisions of `daemonset::SyncContext`, truncate history and write status.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apimachinery::labels::Selector;
use daemonset::ownership::{Claim, adopt_patch, claim, claim_by, release_patch};
use daemonset::pod::{daemon_pod_template, new_daemon_pod};
use daemonset::revision::{HistoryPlan, history_to_truncate, plan_history, revision_matches};
use daemonset::sync::{BURST_REPLICAS, Decision, SkipReason, slow_start_batches, status_changed, sync_guard};
use daemonset::{FailedPodBackoff, Placement, SyncContext};
use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::cache::{Cache, CachedPod};
use crate::expectations::Expectations;
use crate::metrics::Metrics;
use crate::sync_error::{Doing, SyncError, request};
use crate::verdict::Tokens;
use client::events::EventRecorder;
use client::queue::WorkQueue;
use client::stripped::Stripped;
use daemonset::rollout_controls::{self, RolloutControls};

/// Everything a sync needs.
pub struct Context {
    pub client: Client,
    pub cache: Arc<Cache>,
    pub queue: WorkQueue,
    pub expectations: Arc<Expectations>,
    pub backoff: Mutex<FailedPodBackoff>,
    pub recorder: EventRecorder,
    pub metrics: Arc<Metrics>,
    /// Creates and deletes per sync (upstream `BurstReplicas`).
    pub burst: usize,
    /// The tokens of the DaemonSets' selectors and placements, for the verdicts that pods
    /// and nodes remember.
    pub selections: Tokens<LabelSelector>,
    pub placements: Tokens<Placement>,
}

impl Context {
    pub fn new(
        client: Client,
        cache: Arc<Cache>,
        queue: WorkQueue,
        expectations: Arc<Expectations>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Context {
            recorder: EventRecorder::new(client.clone(), "daemonset-controller"),
            client,
            cache,
            queue,
            expectations,
            backoff: Mutex::new(FailedPodBackoff::default()),
            metrics,
            burst: BURST_REPLICAS,
            selections: Tokens::default(),
            placements: Tokens::default(),
        }
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

fn namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403 && s.message.contains("being terminated"))
}

fn error_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// Syncs the DaemonSet `key` (`namespace/name`).
pub async fn sync_daemonset(ctx: &Context, key: &str) -> Result<(), SyncError> {
    let started = Instant::now();
    ctx.metrics.syncs.inc();
    let result = sync_inner(ctx, key).await;
    ctx.metrics.sync_duration.observe(started.elapsed());
    result
}

async fn sync_inner(ctx: &Context, key: &str) -> Result<(), SyncError> {
    let (namespace, name) = key.split_once('/').ok_or_else(|| SyncError::BadKey(key.to_string()))?;
    let Some(ds) = ctx.cache.daemonset(namespace, name) else {
        ctx.expectations.delete(key);
        ctx.selections.forget(key);
        ctx.placements.forget(key);
        return Ok(());
    };
    match sync_guard(&ds) {
        Some(SkipReason::SelectingAll) => {
            ctx.recorder.record_for(
                ds.as_ref(),
                "Warning",
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(());
        }
        Some(SkipReason::BeingDeleted) => return Ok(()),
        None => {}
    }
    let selector = Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector))
        .map_err(|e| SyncError::Selector(e.to_string()))?;
    // Expectations first, then the pods, as upstream orders them: once the last outstanding
    // create or delete has been observed, the cache holds it, so the view below is never older
    // than this controller's own last actions. The other way round, a pod deleted by the last
    // sync could still look alive and be deleted again: an expectation no watch event would
    // ever satisfy, wedging the DaemonSet until it expired.
    let satisfied = ctx.expectations.satisfied(key);
    if !satisfied && let Some(after) = ctx.expectations.recheck_after(key) {
        // Should an observation be lost, look again when the expectations expire rather than
        // wait for an unrelated event.
        ctx.queue.add_after(key, after);
    }
    let mut adoption_checked = false;
    let token =
        ctx.selections.token(key, &ds, &ds.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default());
    let selecting = Selecting { ds: &ds, selector: &selector, token };
    let pods = claim_all(ctx, &selecting, &mut adoption_checked, ctx.cache.pods_in(namespace), "pod").await?;
    let revisions =
        claim_all(ctx, &selecting, &mut adoption_checked, ctx.cache.revisions_in(namespace), "revision")
            .await?;
    let pod_refs: Vec<&Pod> = pods.iter().map(|c| c.pod.as_ref()).collect();
    let rev_refs: Vec<&ControllerRevision> = revisions.iter().map(Arc::as_ref).collect();
    let plan = plan_history(&ds, &rev_refs, &pod_refs);
    let hash = apply_history(ctx, &ds, &plan).await?;
    let nodes = ctx.cache.nodes();
    let placement = Placement::new(&ds);
    let placed = ctx.placements.token(key, &ds, &placement);
    let now = Timestamp::now();
    let view = SyncContext::with_eligibility(
        &ds,
        &hash,
        nodes.iter().map(|c| (c.node.as_ref(), c.eligibility(placed, &placement))),
        pods.iter().map(|c| (c.pod.as_ref(), &c.facts)),
        now,
    );
    let mut controls = rollout_controls(ctx, &ds);
    if controls.in_place {
        controls.in_place_hashes = daemonset::in_place::compatible_hashes(&ds, &rev_refs);
    }
    if controls.gated() && !controls.paused && controls.halted.is_none() {
        let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let failures = rollout_controls::health_failures(&controls, &view.updated_pods(), min_ready, now);
        if !failures.is_empty() {
            // The DaemonSet's own change brings the next sync.
            return halt(ctx, &ds, &controls, &failures, &rev_refs).await;
        }
    }

    let mut result = Ok(());
    if satisfied {
        result = manage(ctx, key, &ds, &view, &controls, &hash, &plan, &rev_refs, &pod_refs).await;
    }
    let observed = if satisfied {
        ds.metadata.generation
    } else {
        ds.status.as_ref().and_then(|s| s.observed_generation)
    };
    let mut status = view.status(ds.status.as_ref(), observed);
    status.conditions = if !controls.reported {
        // Without controls, only what an earlier controlled rollout left is taken off.
        daemonset::rollout_controls::conditions(&controls, &[], &status, now)
    } else {
        daemonset::rollout_controls::conditions(&controls, &view.rollout_standing(&controls), &status, now)
    };
    tracing::debug!(
        daemonset = key,
        satisfied,
        pods = pod_refs.len(),
        updated = status.updated_number_scheduled,
        available = status.number_available,
        "synced"
    );
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    if min_ready > 0 && status.number_ready != status.number_available.unwrap_or(0) {
        ctx.queue.add_after(key, Duration::from_secs(min_ready as u64));
    }
    let status_result = write_status(ctx, &ds, status).await;
    result.and(status_result)
}

/// The health gate tripped: pause the rollout, or roll back to the previous revision as
/// `kubectl rollout undo` does, and say why (the `halted` annotation, an event). While
/// `halted` stays, the gate is not looked at again, so a rollback never flips back.
async fn halt(
    ctx: &Context,
    ds: &DaemonSet,
    controls: &RolloutControls,
    failures: &[String],
    revisions: &[&ControllerRevision],
) -> Result<(), SyncError> {
    let mut why = failures.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if failures.len() > 3 {
        why.push_str(&format!("; and {} more", failures.len() - 3));
    }
    let api: Api<DaemonSet> =
        Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    let previous = revisions.iter().filter(|r| !revision_matches(ds, r)).max_by_key(|r| r.revision);
    match (controls.on_failure, previous) {
        (rollout_controls::OnFailure::Rollback, Some(previous)) => {
            let mut patch = previous.data.as_ref().map(|d| d.0.clone()).unwrap_or_else(|| json!({}));
            patch["metadata"]["annotations"][rollout_controls::HALTED] =
                json!(format!("{why}; rolled back to revision {}", previous.revision));
            api.patch(&ds.name_any(), &PatchParams::default(), &Patch::Strategic(patch))
                .await
                .doing(|| "rolling back".into())?;
            ctx.recorder.record_for(
                ds,
                "Warning",
                "RolloutRolledBack",
                &format!("health gate: {why}; rolled back to revision {}", previous.revision),
            );
        }
        _ => {
            let patch = json!({"metadata": {"annotations": {
                rollout_controls::PAUSED: "true",
                rollout_controls::HALTED: why,
            }}});
            api.patch(&ds.name_any(), &PatchParams::default(), &Patch::Merge(patch))
                .await
                .doing(|| "pausing".into())?;
            ctx.recorder.record_for(
                ds,
                "Warning",
                "RolloutHalted",
                &format!("health gate: {why}; rollout paused"),
            );
        }
    }
    Ok(())
}

/// Updates pods in place to `template` (rollout control `in-place`), then waits, briefly, for
/// the cache to see them so the next step counts them as updated (and unavailable until their
/// kubelet has restarted them) rather than choosing more.
async fn update_in_place(
    ctx: &Context,
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    names: &[String],
) -> Result<(), SyncError> {
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let pods: Api<Stripped<Pod>> = Api::namespaced_with(ctx.client.clone(), namespace, &());
    let patch = daemonset::in_place::patch(template);
    let hash = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(daemonset::pod::CONTROLLER_REVISION_HASH_LABEL))
        .cloned();
    let patches = names.iter().map(|name| {
        let (pods, patch) = (pods.clone(), patch.clone());
        async move { (name, pods.patch(name, &PatchParams::default(), &Patch::Strategic(patch)).await) }
    });
    let mut errors = Vec::new();
    for (name, outcome) in join_all(patches).await {
        match outcome {
            Ok(_) => ctx.recorder.record_for(
                ds,
                "Normal",
                "UpdatedInPlace",
                &format!("Updated pod in place: {name}"),
            ),
            Err(e) if is_not_found(&e) => {}
            Err(e) => errors.push(request(format!("updating pod {name} in place"), e)),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let caught_up = names.iter().all(|name| {
            ctx.cache.pod(namespace, name).is_none_or(|p| {
                p.metadata.labels.as_ref().and_then(|l| l.get(daemonset::pod::CONTROLLER_REVISION_HASH_LABEL))
                    == hash.as_ref()
            })
        });
        if caught_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    SyncError::all(errors)
}

/// The rollout controls of a DaemonSet's annotations. Ones it cannot read hold the rollout
/// (as a pause would) and say why in a warning event, as the API server would have refused them.
fn rollout_controls(ctx: &Context, ds: &DaemonSet) -> RolloutControls {
    RolloutControls::of(ds).unwrap_or_else(|errors| {
        let message = apimachinery::validation::aggregate_message(&errors);
        ctx.recorder.record_for(ds, "Warning", "InvalidRolloutControls", &format!("rollout held: {message}"));
        RolloutControls { paused: true, reported: true, ..RolloutControls::default() }
    })
}

#[allow(clippy::too_many_arguments)]
async fn manage(
    ctx: &Context,
    key: &str,
    ds: &DaemonSet,
    view: &SyncContext<'_>,
    controls: &RolloutControls,
    hash: &str,
    plan: &HistoryPlan,
    revisions: &[&ControllerRevision],
    pods: &[&Pod],
) -> Result<(), SyncError> {
    let decision = {
        let mut backoff = ctx.backoff.lock().unwrap_or_else(|e| e.into_inner());
        view.decide(&mut backoff, controls)
    };
    let template = daemon_pod_template(ds, hash);
    let mut result = execute(ctx, key, ds, &template, decision).await;
    let old: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| plan.old.iter().any(|o| r.metadata.name.as_deref() == Some(o.as_str())))
        .collect();
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    for name in history_to_truncate(ds, &old, pods) {
        if let Err(e) = api.delete(&name, &DeleteParams::default()).await
            && !is_not_found(&e)
        {
            result = result.and(Err(request(format!("deleting revision {name}"), e)));
        }
    }
    result
}

/// Carries out a decision as upstream's `syncNodes`: records its events, sets expectations,
/// creates pods in slow-start batches, then deletes in parallel.
async fn execute(
    ctx: &Context,
    key: &str,
    ds: &DaemonSet,
    template: &PodTemplateSpec,
    decision: Decision,
) -> Result<(), SyncError> {
    for e in &decision.events {
        ctx.recorder.record_for(ds, e.type_, e.reason, &e.message);
    }
    if let Some(after) = decision.requeue_after {
        ctx.queue.add_after(key, Duration::from_millis(after.as_millis().max(0) as u64));
    }
    let Decision { create_on, delete, in_place, .. } = decision.capped(ctx.burst);
    if !in_place.is_empty() {
        update_in_place(ctx, ds, template, &in_place).await?;
    }
    if create_on.is_empty() && delete.is_empty() {
        return Ok(());
    }
    tracing::debug!(daemonset = key, creates = create_on.len(), deletes = delete.len(), "acting");
    ctx.expectations.set(key, create_on.len(), delete.len());
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    // What the server answers is read for its name only: decoded without managed fields.
    let pods: Api<Stripped<Pod>> = Api::namespaced_with(ctx.client.clone(), namespace, &());
    let mut errors: Vec<SyncError> = Vec::new();

    let mut next = 0;
    for batch in slow_start_batches(create_on.len()) {
        let creates = create_on[next..next + batch].iter().map(|node| {
            let pods = pods.clone();
            let pod = Stripped(new_daemon_pod(ds, template, node));
            async move { pods.create(&PostParams::default(), &pod).await }
        });
        next += batch;
        let mut failed = 0;
        for outcome in join_all(creates).await {
            match outcome {
                Ok(pod) => {
                    ctx.metrics.pods_created.inc();
                    ctx.recorder.record_for(
                        ds,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", pod.0.name_any()),
                    );
                }
                Err(e) => {
                    ctx.expectations.lower(key, 1, 0);
                    if namespace_terminating(&e) {
                        continue;
                    }
                    failed += 1;
                    ctx.metrics.create_errors.inc();
                    ctx.recorder.record_for(
                        ds,
                        "Warning",
                        "FailedCreate",
                        &format!("Error creating: {}", error_message(&e)),
                    );
                    errors.push(request("creating pod", e));
                }
            }
        }
        if failed > 0 {
            // Slow start: stop at the first failing batch; the rest waits for a retry.
            ctx.expectations.lower(key, create_on.len() - next, 0);
            break;
        }
    }

    let deletes = delete.iter().map(|name| {
        let pods = pods.clone();
        async move { (name, pods.delete(name, &DeleteParams::default()).await) }
    });
    for (name, outcome) in join_all(deletes).await {
        match outcome {
            Ok(_) => {
                ctx.metrics.pods_deleted.inc();
                ctx.recorder.record_for(ds, "Normal", "SuccessfulDelete", &format!("Deleted pod: {name}"));
            }
            Err(e) if is_not_found(&e) => ctx.expectations.deletion_observed(key),
            Err(e) => {
                ctx.expectations.lower(key, 0, 1);
                ctx.metrics.delete_errors.inc();
                ctx.recorder.record_for(
                    ds,
                    "Warning",
                    "FailedDelete",
                    &format!("Error deleting: {}", error_message(&e)),
                );
                errors.push(request(format!("deleting pod {name}"), e));
            }
        }
    }
    SyncError::all(errors)
}

/// Before the first adoption of a sync, a live read confirms the DaemonSet is still there
/// and not being deleted (upstream `RecheckDeletionTimestamp`).
async fn recheck(ctx: &Context, ds: &DaemonSet, checked: &mut bool) -> Result<(), SyncError> {
    if *checked {
        return Ok(());
    }
    let api: Api<DaemonSet> =
        Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    let fresh = api.get(&ds.name_any()).await.doing(|| "re-reading the DaemonSet before adoption".into())?;
    if fresh.metadata.uid != ds.metadata.uid {
        return Err(SyncError::Changed(format!(
            "original DaemonSet {} is gone: got uid {:?}, wanted {:?}",
            ds.name_any(),
            fresh.metadata.uid,
            ds.metadata.uid
        )));
    }
    if fresh.metadata.deletion_timestamp.is_some() {
        return Err(SyncError::Changed(format!("DaemonSet {} has just been deleted", ds.name_any())));
    }
    *checked = true;
    Ok(())
}

/// Claims the objects of one kind in the DaemonSet's namespace (upstream `ClaimPods` /
/// `ClaimControllerRevisions`): keeps the owned ones, adopts matching orphans and releases
/// owned ones it no longer selects. Returns what the DaemonSet now owns.
async fn claim_all<C: Claimed>(
    ctx: &Context,
    selecting: &Selecting<'_>,
    checked: &mut bool,
    objects: Vec<C>,
    what: &str,
) -> Result<Vec<C>, SyncError> {
    let ds = selecting.ds;
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<C::Object> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = Vec::new();
    for claimed in objects {
        let obj = claimed.object();
        let uid = || obj.meta().uid.clone().unwrap_or_default();
        match claimed.claim(selecting) {
            Claim::Owned => out.push(claimed),
            Claim::Ignore => {}
            Claim::Adopt => {
                let uid = uid();
                recheck(ctx, ds, checked).await?;
                let patch = Patch::Strategic(adopt_patch(ds, &uid));
                match api.patch(&obj.name_any(), &PatchParams::default(), &patch).await {
                    Ok(adopted) => out.push(C::adopted(adopted)),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(request(format!("adopting {what} {}", obj.name_any()), e)),
                }
            }
            Claim::Release => {
                let patch = Patch::Strategic(release_patch(ds, &uid()));
                if let Err(e) = api.patch(&obj.name_any(), &PatchParams::default(), &patch).await
                    && !is_not_found(&e)
                {
                    return Err(request(format!("releasing {what} {}", obj.name_any()), e));
                }
            }
        }
    }
    Ok(out)
}

/// The DaemonSet a sync claims for, its parsed selector and that selector's token.
struct Selecting<'a> {
    ds: &'a DaemonSet,
    selector: &'a Selector,
    token: u64,
}

/// What a sync claims: its pods, kept with their facts, and its revisions.
trait Claimed: Sized {
    type Object: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug;
    fn object(&self) -> &Self::Object;
    /// What the sync holds of an object it has just adopted.
    fn adopted(object: Self::Object) -> Self;
    fn claim(&self, s: &Selecting<'_>) -> Claim {
        claim(s.ds, s.selector, self.object().meta())
    }
}

impl Claimed for Arc<CachedPod> {
    type Object = Pod;
    fn object(&self) -> &Pod {
        &self.pod
    }
    fn adopted(pod: Pod) -> Self {
        Arc::new(CachedPod::new(Arc::new(pod)))
    }
    /// From the pod's facts, remembered on this version of it: the claim depends only on the
    /// version, the DaemonSet's uid and selector (the token) and whether the DaemonSet is being
    /// deleted, which a sync never claims for (`sync_guard`), and is judged afresh if it does.
    fn claim(&self, s: &Selecting<'_>) -> Claim {
        let judge = || {
            claim_by(s.ds, self.facts.controller_uid.as_deref(), self.facts.terminating, || {
                s.selector.matches(self.pod.metadata.labels.as_ref().unwrap_or(&Default::default()))
            })
        };
        if s.ds.metadata.deletion_timestamp.is_some() {
            return judge();
        }
        const CLAIMS: [Claim; 4] = [Claim::Ignore, Claim::Owned, Claim::Adopt, Claim::Release];
        let code = self.claimed.of(s.token, || {
            let claim = judge();
            CLAIMS.iter().position(|c| *c == claim).unwrap_or(0) as u8
        });
        CLAIMS[usize::from(code)]
    }
}

impl Claimed for Arc<ControllerRevision> {
    type Object = ControllerRevision;
    fn object(&self) -> &ControllerRevision {
        self
    }
    fn adopted(revision: ControllerRevision) -> Self {
        Arc::new(revision)
    }
}

/// Carries out a history plan; returns the current hash.
async fn apply_history(ctx: &Context, ds: &DaemonSet, plan: &HistoryPlan) -> Result<String, SyncError> {
    let namespace = ds.metadata.namespace.as_deref().unwrap_or_default();
    let revisions: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), namespace);
    let merge = |v: serde_json::Value| Patch::Merge(v);
    for name in &plan.label_missing_hash {
        revisions
            .patch(
                name,
                &PatchParams::default(),
                &merge(json!({"metadata": {"labels": {"controller-revision-hash": name}}})),
            )
            .await
            .doing(|| format!("labelling revision {name}"))?;
    }
    if let Some(new) = &plan.create {
        match revisions.create(&PostParams::default(), new).await {
            Ok(_) => {}
            Err(e) if is_already_exists(&e) => {
                let existing = revisions
                    .get(&new.name_any())
                    .await
                    .doing(|| format!("reading revision {}", new.name_any()))?;
                if !revision_matches(ds, &existing) {
                    bump_collision_count(ctx, ds).await?;
                    return Err(SyncError::Changed(format!(
                        "hash collision on revision {}; collisionCount raised",
                        new.name_any()
                    )));
                }
            }
            Err(e) => return Err(request(format!("creating revision {}", new.name_any()), e)),
        }
    }
    if let (Some(current), Some(n)) = (&plan.current, plan.renumber_to) {
        revisions
            .patch(current, &PatchParams::default(), &merge(json!({"revision": n})))
            .await
            .doing(|| format!("renumbering revision {current}"))?;
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    for pod in &plan.relabel_pods {
        let patch =
            Patch::Strategic(json!({"metadata": {"labels": {"controller-revision-hash": plan.hash}}}));
        if let Err(e) = pods.patch(pod, &PatchParams::default(), &patch).await
            && !is_not_found(&e)
        {
            return Err(request(format!("relabelling pod {pod}"), e));
        }
    }
    for dup in &plan.delete_duplicates {
        if let Err(e) = revisions.delete(dup, &DeleteParams::default()).await
            && !is_not_found(&e)
        {
            return Err(request(format!("deleting duplicate revision {dup}"), e));
        }
    }
    Ok(plan.hash.clone())
}

async fn bump_collision_count(ctx: &Context, ds: &DaemonSet) -> Result<(), SyncError> {
    let api: Api<DaemonSet> =
        Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    let mut fresh = api.get(&ds.name_any()).await.doing(|| "re-reading the DaemonSet".into())?;
    let seen = ds.status.as_ref().and_then(|s| s.collision_count);
    let current = fresh.status.as_ref().and_then(|s| s.collision_count);
    if seen != current {
        return Err(SyncError::Changed("collisionCount changed meanwhile; retrying".into()));
    }
    let status = fresh.status.get_or_insert_with(Default::default);
    status.collision_count = Some(current.unwrap_or(0) + 1);
    api.replace_status(&ds.name_any(), &PostParams::default(), &fresh)
        .await
        .doing(|| "raising collisionCount".into())?;
    Ok(())
}

/// `PUT …/status` when anything changed. As upstream's `storeDaemonSetStatus`: after any
/// failed write, re-read the DaemonSet and try once more (`StatusUpdateRetries` = 1); a
/// failed re-read is the error to report, being the more telling one.
async fn write_status(
    ctx: &Context,
    ds: &DaemonSet,
    status: k8s_openapi::api::apps::v1::DaemonSetStatus,
) -> Result<(), SyncError> {
    if !status_changed(ds.status.as_ref(), &status) {
        return Ok(());
    }
    let api: Api<DaemonSet> =
        Api::namespaced(ctx.client.clone(), ds.metadata.namespace.as_deref().unwrap_or_default());
    let name = ds.name_any();
    let mut updated = ds.clone();
    updated.status = Some(status.clone());
    let first = match api.replace_status(&name, &PostParams::default(), &updated).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => e,
    };
    tracing::debug!(daemonset = %name, error = %first, "writing status failed; re-reading to retry once");
    let mut fresh = match api.get(&name).await {
        Ok(fresh) => fresh,
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(request("re-reading the DaemonSet after a failed status write", e)),
    };
    let previous = fresh.status.clone().unwrap_or_default();
    fresh.status = Some(k8s_openapi::api::apps::v1::DaemonSetStatus {
        conditions: previous.conditions,
        collision_count: previous.collision_count,
        ..status
    });
    api.replace_status(&name, &PostParams::default(), &fresh).await.doing(|| "writing status".into())?;
    Ok(())
}
