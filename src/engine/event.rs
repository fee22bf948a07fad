//! Events: the facts a case is made of. Each is one journal entry (`kind` + `payload`); folding
//! them with `State::apply` rebuilds the case. A command yields exactly one event, so a crash can
//! never leave half a transition: an event that moves the case on names where it goes (`next`).
//!
//! The names and payloads are frozen once shipped (`docs/journal-format.md`); new kinds may be
//! added, and upgrades of old ones happen in the journal codec.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a transition leads: a step id, or `null` for the end of the playbook.
pub type NextStep = Option<String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Event {
    /// The case exists: which playbook, as run, with which inputs. Always seq 0.
    CaseOpened(CaseOpened),
    /// A process started working on the case (a run, or a resume).
    SessionStarted(SessionStarted),
    /// The previous holder of the case lock died without releasing it; this session took over.
    LockTakenOver(LockHolder),
    /// The last line of the journal was cut short (a crash mid-write); its bytes were moved to
    /// `file`, untouched, and the journal continues after the last complete entry.
    TornTailSetAside(TornTail),
    /// The playbook on disk changed since the case was opened and the responder accepted the change.
    PlaybookChanged(PlaybookChanged),
    /// The responder started walking the playbook at its first step.
    Started {
        first: String,
    },
    QuerySubmitted(QuerySubmitted),
    QuerySucceeded(QuerySucceeded),
    QueryFailed(QueryFailed),
    QueryCancelled {
        step: String,
        reason: String,
    },
    /// A query step's source is not collected: the backend has no such table, or the lake holds
    /// no events of it for this case (a coverage check found none, and this step found none
    /// either). The step's captures take the values of an empty result.
    SourceNotCollected(SourceNotCollected),
    Decided(Decided),
    ActionConfirmed(ActionConfirmed),
    /// A `for_each` step's list was empty: nothing to act on, said rather than skipped.
    ActionNothingToDo {
        step: String,
        /// The capture the step runs over.
        list: String,
        next: NextStep,
    },
    /// The action's intent, durable before anything runs.
    ActionStarted(ActionStarted),
    ActionFinished(ActionFinished),
    /// The resource changed between the confirmation and the call: the confirmation no longer
    /// holds, and the responder confirms again against the new state.
    ActionConflict(ActionConflict),
    /// An action whose outcome was unknown was checked: by reading the resource, or by the
    /// responder's word.
    ActionVerified(ActionVerified),
    /// Who a live case's AWS calls are made as, from STS, before the first one of a session.
    AwsIdentity(AwsIdentity),
    /// The intent of a rollback, durable before anything runs: the stored before-state to put
    /// back, confirmed.
    RollbackStarted(RollbackStarted),
    RollbackFinished(RollbackFinished),
    ChecklistItemDone {
        step: String,
        item: usize,
        text: String,
    },
    /// A note step (or a finished checklist) was marked done.
    StepCompleted {
        step: String,
        next: NextStep,
    },
    StepSkipped {
        step: String,
        reason: String,
        next: NextStep,
    },
    /// Back to an earlier step, to look again or re-run it; the history stays in the journal.
    WentBack {
        from: NextStep,
        to: String,
    },
    NoteAdded {
        step: NextStep,
        text: String,
        /// When the note was written, for one written offline in a shared case and appended
        /// when the network came back (RFC 3339, UTC); the entry's `at` is when it was appended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        made_offline: Option<String>,
    },
    EvidenceAdded(EvidenceAdded),
    Paused {
        reason: String,
    },
    Unpaused {},
    CaseClosed {
        summary: String,
    },
    /// A rehearsal's exercise: the scenario it runs on, and its brief (the truth and the
    /// expected path, stored as an artifact) that the score is computed against.
    ExerciseSet(ExerciseSet),
    /// A facilitator's inject landed: new events were written into the exercise's lake.
    InjectLanded(InjectLanded),
    /// The journal up to `head`, its signatures and a manifest of the case folder were copied
    /// outside it (S3, under Object Lock when the bucket has it).
    CaseSealed(CaseSealed),
    /// An automatic seal could not be made; the case went on, and the next one tries again.
    SealFailed {
        location: String,
        error: String,
    },
    /// A responder took one of the playbook's roles in a case worked by a team (`--role`).
    RoleTaken(RoleTaken),
    /// A role's holder gave it to another responder (`irp handover`).
    RoleHandedOver(RoleHandedOver),
    /// The lead reassigned a role without its holder (who is not there to hand it over), with
    /// the reason.
    RoleOverridden(RoleOverridden),
    /// An entry another party put in a shared case's journal failed the checks (its signature,
    /// its chain link or its form); the case's state skips it. Written by the next honest writer.
    EntryRejected(EntryRejected),
}

impl Event {
    /// The `kind` as written in the journal.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CaseOpened(_) => "case_opened",
            Event::SessionStarted(_) => "session_started",
            Event::LockTakenOver(_) => "lock_taken_over",
            Event::TornTailSetAside(_) => "torn_tail_set_aside",
            Event::PlaybookChanged(_) => "playbook_changed",
            Event::Started { .. } => "started",
            Event::QuerySubmitted(_) => "query_submitted",
            Event::QuerySucceeded(_) => "query_succeeded",
            Event::QueryFailed(_) => "query_failed",
            Event::QueryCancelled { .. } => "query_cancelled",
            Event::SourceNotCollected(_) => "source_not_collected",
            Event::Decided(_) => "decided",
            Event::ActionConfirmed(_) => "action_confirmed",
            Event::ActionNothingToDo { .. } => "action_nothing_to_do",
            Event::ActionStarted(_) => "action_started",
            Event::ActionFinished(_) => "action_finished",
            Event::ActionConflict(_) => "action_conflict",
            Event::ActionVerified(_) => "action_verified",
            Event::AwsIdentity(_) => "aws_identity",
            Event::RollbackStarted(_) => "rollback_started",
            Event::RollbackFinished(_) => "rollback_finished",
            Event::ChecklistItemDone { .. } => "checklist_item_done",
            Event::StepCompleted { .. } => "step_completed",
            Event::StepSkipped { .. } => "step_skipped",
            Event::WentBack { .. } => "went_back",
            Event::NoteAdded { .. } => "note_added",
            Event::EvidenceAdded(_) => "evidence_added",
            Event::Paused { .. } => "paused",
            Event::Unpaused {} => "unpaused",
            Event::CaseClosed { .. } => "case_closed",
            Event::ExerciseSet(_) => "exercise_set",
            Event::InjectLanded(_) => "inject_landed",
            Event::CaseSealed(_) => "case_sealed",
            Event::SealFailed { .. } => "seal_failed",
            Event::RoleTaken(_) => "role_taken",
            Event::RoleHandedOver(_) => "role_handed_over",
            Event::RoleOverridden(_) => "role_overridden",
            Event::EntryRejected(_) => "entry_rejected",
        }
    }

    /// The step the entry is about, if any (for `went_back`, the step gone back to).
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::Started { first } => Some(first),
            Event::QuerySubmitted(q) => Some(&q.step),
            Event::QuerySucceeded(q) => Some(&q.step),
            Event::QueryFailed(q) => Some(&q.step),
            Event::SourceNotCollected(s) => Some(&s.step),
            Event::QueryCancelled { step, .. }
            | Event::ActionNothingToDo { step, .. }
            | Event::ChecklistItemDone { step, .. }
            | Event::StepCompleted { step, .. }
            | Event::StepSkipped { step, .. } => Some(step),
            Event::Decided(d) => Some(&d.step),
            Event::ActionConfirmed(a) => Some(&a.step),
            Event::ActionStarted(a) => Some(&a.step),
            Event::ActionFinished(a) => Some(&a.step),
            Event::ActionConflict(a) => Some(&a.step),
            Event::ActionVerified(a) => Some(&a.step),
            Event::RollbackStarted(r) => Some(&r.step),
            Event::RollbackFinished(r) => Some(&r.step),
            Event::WentBack { to, .. } => Some(to),
            Event::NoteAdded { step, .. } => step.as_deref(),
            Event::EvidenceAdded(e) => e.step.as_deref(),
            Event::CaseOpened(_)
            | Event::SessionStarted(_)
            | Event::LockTakenOver(_)
            | Event::TornTailSetAside(_)
            | Event::PlaybookChanged(_)
            | Event::AwsIdentity(_)
            | Event::Paused { .. }
            | Event::Unpaused {}
            | Event::CaseClosed { .. }
            | Event::ExerciseSet(_)
            | Event::InjectLanded(_)
            | Event::CaseSealed(_)
            | Event::SealFailed { .. }
            | Event::RoleTaken(_)
            | Event::RoleHandedOver(_)
            | Event::RoleOverridden(_)
            | Event::EntryRejected(_) => None,
        }
    }

    /// Entries about the process rather than the incident: sessions, locks, repairs.
    pub fn is_housekeeping(&self) -> bool {
        matches!(
            self,
            Event::SessionStarted(_)
                | Event::LockTakenOver(_)
                | Event::TornTailSetAside(_)
                | Event::AwsIdentity(_)
                | Event::CaseSealed(_)
                | Event::SealFailed { .. }
        )
    }
}

/// A role taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleTaken {
    /// A role id from the playbook's `roles`.
    pub role: String,
    /// Who holds it now (the entry's actor).
    pub responder: String,
}

/// A role handed over by its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleHandedOver {
    pub role: String,
    pub from: String,
    pub to: String,
}

/// A role reassigned by the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RoleOverridden {
    pub role: String,
    /// Who held it (`null`: nobody).
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
}

/// An entry of a shared case that was refused by its readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EntryRejected {
    /// The slot on S3 it took (`journal/<slot>`); slots and seqs part from the first one
    /// rejected.
    pub slot: u64,
    /// SHA-256 of the object's bytes as read (the entry's own `hash` cannot be trusted).
    pub object_sha256: String,
    /// The actor the entry claimed, if it could be read.
    pub claimed_actor: Option<String>,
    /// Why it was refused.
    pub why: String,
    /// Where its bytes are kept in the case folder, untouched.
    pub file: String,
}

/// The exercise a rehearsal runs: recorded once, before the first step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExerciseSet {
    /// The scenario's id (its file name without `.yaml`).
    pub scenario: String,
    pub title: String,
    /// The generator's seed (0 for a lake that was not generated).
    pub seed: u64,
    /// The lake the queries read, as given.
    pub lake: String,
    /// The scenario resolved against the lake: truth, expected decisions, targets, injects.
    pub brief: ArtifactRef,
}

/// An inject that landed in the exercise's lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InjectLanded {
    pub name: String,
    pub title: String,
    /// What the facilitator announces.
    pub text: String,
    /// Events written.
    pub events: u64,
    /// The file written, relative to the lake.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseOpened {
    /// The case id (a `UUIDv7`).
    pub case: String,
    /// `rehearsal` (actions simulated) or `live`.
    pub mode: Mode,
    pub playbook: PlaybookRef,
    /// Inputs as resolved when the case opened (relative times made absolute), by name.
    pub inputs: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Nothing outside irp changes: actions record the call they would make.
    Rehearsal,
    /// Actions change the account, after confirmation.
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Rehearsal => "rehearsal",
            Mode::Live => "live",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlaybookRef {
    pub id: String,
    pub title: String,
    pub version: String,
    /// SHA-256 (hex) of the playbook file as run.
    pub sha256: String,
    /// The snapshot in the case folder, relative to it.
    pub snapshot: String,
    /// The path the playbook was read from, as given.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionStarted {
    pub pid: u32,
    pub host: String,
    /// The irp version that wrote the following entries.
    pub irp: String,
    /// `run`, `resume`, …
    pub command: String,
    /// Where the times of the following entries come from: `system`, or `fixed` (`IRP_NOW`,
    /// which a live case refuses). Absent in entries written before irp recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// Where the entries' ids come from: `random`, or `seeded` (`IRP_SEED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// When the holder took the lock (RFC 3339).
    pub since: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TornTail {
    pub bytes: u64,
    pub sha256: String,
    /// Where the bytes were put, relative to the case folder.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlaybookChanged {
    pub old_sha256: String,
    pub new_sha256: String,
    pub version: String,
    /// The snapshot of the new playbook, relative to the case folder.
    pub snapshot: String,
}

/// A file in the case folder that an entry vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactRef {
    /// Relative to the case folder.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuerySubmitted {
    pub step: String,
    /// The SQL exactly as sent.
    pub sql: String,
    pub backend: String,
    /// Tables of the step the backend has no table for (sources not collected): the SQL reads
    /// each as an empty relation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_collected: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuerySucceeded {
    pub step: String,
    pub rows: u64,
    pub artifact: Option<ArtifactRef>,
    /// The step's captures, evaluated against the result.
    pub captures: BTreeMap<String, serde_json::Value>,
    pub next: NextStep,
    /// What the backend reported of the run; absent for the embedded engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceNotCollected {
    pub step: String,
    /// The logical tables (`s3_data`) the step found not collected.
    pub tables: Vec<String>,
    pub found: NotCollected,
    /// What was found, in words: the table the backend lacks, or the window and scope with no
    /// events.
    pub reason: String,
    /// The empty result, when the query ran.
    pub artifact: Option<ArtifactRef>,
    /// The step's captures, evaluated against an empty result.
    pub captures: BTreeMap<String, serde_json::Value>,
    pub next: NextStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

/// How a source was found not collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotCollected {
    /// The lake or the Athena catalog has no such table: the source is not enabled (Security
    /// Lake creates a source's table when it is).
    NoTable,
    /// The table exists but a coverage check found no events in it for the case's account,
    /// region and window (or this step, after such a check, found none either).
    NoEvents,
}

/// A query's run as its backend reports it (Athena), for the record and for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Execution {
    /// Athena's `QueryExecutionId`, to find the query in the console or `CloudTrail`.
    pub query_id: String,
    /// The last state seen: SUCCEEDED, FAILED, CANCELLED, or QUEUED/RUNNING when stopped.
    pub state: String,
    /// Athena's `StateChangeReason`, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    pub bytes_scanned: u64,
    /// From the start to the final state, as irp saw it.
    pub run_ms: u64,
    /// From SUCCEEDED to the last row converted.
    pub fetch_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QueryFailed {
    pub step: String,
    pub error: String,
    pub artifact: Option<ArtifactRef>,
    /// Where the step's `on_failure` sends the case; `None` with `stay` means the responder decides.
    pub next: NextStep,
    /// True when the case stays on the failed step (`on_failure: ask`).
    pub stay: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Decided {
    pub step: String,
    pub option: String,
    pub label: String,
    /// The option the playbook suggested, if any, when the choice was made.
    pub suggested: Option<String>,
    pub rationale: Option<String>,
    pub next: NextStep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionConfirmed {
    pub step: String,
    /// `yes` or `typed`.
    pub confirmation: String,
    /// What the responder typed (for `typed`).
    pub typed: Option<String>,
    /// The state of the resource the responder saw when confirming (live AWS actions). If it
    /// differs when the call is about to be made, the confirmation is void. For a `for_each`
    /// step, the state of each chosen item (`{"items": {"<index>": {state, plan}}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<ArtifactRef>,
    /// For a `for_each` step: the items confirmed, and those left out with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Chosen>,
}

/// The items of a `for_each` step the responder confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Chosen {
    /// How many items the list held when the responder confirmed.
    pub total: usize,
    /// The items to act on, by index (from 0).
    pub items: Vec<usize>,
    /// The items left out, each with the responder's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<LeftOut>,
}

/// An item of a `for_each` step the responder chose not to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeftOut {
    pub item: usize,
    pub reason: String,
}

/// Exactly what an action does, rendered: the operation and its parameters, or the argv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Intent {
    Aws {
        operation: String,
        api: String,
        params: BTreeMap<String, serde_json::Value>,
        /// The resource that changes (what `confirm: typed` asks for).
        target: Option<String>,
    },
    Command {
        argv: Vec<String>,
        /// The names of the responder's variables the command sees (never their values).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        env: Vec<String>,
    },
    Manual {
        items: Vec<String>,
    },
}

/// A command as the responder confirms it: the argv, and the names of the variables of the
/// responder's environment it sees, if any.
pub fn command_words(argv: &[String], env: &[String]) -> String {
    let argv = serde_json::to_string(argv).unwrap_or_default();
    if env.is_empty() {
        argv
    } else {
        format!("{argv} with {} from the responder's environment", env.join(", "))
    }
}

impl Intent {
    /// What `confirm: typed` asks the responder to type: the resource an AWS operation changes
    /// (its target parameter), the program of a command, or the step id of a checklist.
    pub fn confirmation_word(&self, step: &str) -> String {
        match self {
            Intent::Aws { target: Some(t), .. } => t.clone(),
            Intent::Command { argv, .. } => argv
                .first()
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned())
                .unwrap_or_default(),
            _ => step.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionStarted {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub intent: Intent,
    /// True when nothing outside irp is called (rehearsal).
    pub simulated: bool,
    /// The state before the change, stored before the change runs.
    pub before: Option<ArtifactRef>,
    /// The exact change, worked out from the before-state: the documents the calls send, the
    /// calls in words and the diff (live AWS actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ArtifactRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionFinished {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub outcome: Outcome,
    pub detail: String,
    pub simulated: bool,
    pub after: Option<ArtifactRef>,
    pub next: NextStep,
    /// True when the case stays on the step (a failure with `on_failure: ask`).
    pub stay: bool,
    /// The request ids AWS returned, to find the calls in `CloudTrail` or with AWS support.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
    /// What reading the resource back showed (live AWS changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
    /// A command's standard output and error, as stored (size-capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<ArtifactRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionConflict {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The state the confirmation was given on.
    pub seen: Option<ArtifactRef>,
    /// The state now.
    pub now: ArtifactRef,
    /// What changed, line by line.
    pub difference: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionVerified {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// `read` (irp read the resource) or `responder` (the responder checked).
    pub method: String,
    /// Whether the change is in place.
    pub in_place: bool,
    pub detail: String,
    /// The state read, for `read`.
    pub after: Option<ArtifactRef>,
    /// Where the case goes: on when the change is in place; it stays on the step otherwise.
    pub next: NextStep,
    pub stay: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AwsIdentity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub region: String,
    /// The endpoint the calls go to when it is not AWS's own (a drill against moto).
    pub endpoint: Option<String>,
}

/// A seal of the case outside its folder (`irp case seal`, or automatic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CaseSealed {
    /// The seal's folder: `s3://BUCKET/PREFIX/<case>/<entries>-<head>/`.
    pub location: String,
    /// Entries covered: seq 0 to `entries - 1`.
    pub entries: u64,
    /// The hash of the last entry covered.
    pub head: String,
    /// What made the seal: `command`, `every N entries`, `end of stage ID`, `case closed`.
    pub trigger: String,
    /// The bucket's Object Lock as the seal found it.
    pub object_lock: String,
    /// The objects written (the manifest last), with their S3 versions.
    pub objects: Vec<SealedObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SealedObject {
    pub key: String,
    /// The S3 version id (when the bucket keeps versions, as Object Lock requires).
    pub version_id: Option<String>,
    pub bytes: u64,
    pub sha256: String,
    /// The Object Lock retention S3 reports for the object, if any.
    pub retention: Option<SealRetention>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SealRetention {
    /// `COMPLIANCE` or `GOVERNANCE`.
    pub mode: String,
    /// RFC 3339.
    pub until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackStarted {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The operation being undone.
    pub operation: String,
    /// The resource, as the responder typed it to confirm.
    pub target: String,
    pub typed: String,
    /// The before-state being put back (the one stored by the action); none in a rehearsal.
    pub restore: Option<ArtifactRef>,
    /// The state just before the rollback.
    pub current: Option<ArtifactRef>,
    /// The calls, in words.
    pub calls: Vec<String>,
    /// True when the current state differed from what the action left and the responder chose
    /// to overwrite it.
    pub overwrites_changes: bool,
    pub simulated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RollbackFinished {
    pub step: String,
    /// The item of a `for_each` step (its index in the list, from 0); absent for a step that
    /// acts once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    pub outcome: Outcome,
    pub detail: String,
    pub after: Option<ArtifactRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
    pub simulated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// The process died between intent and result; what happened must be checked.
    Unknown,
}

impl Outcome {
    /// As written in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The types of observable a responder can record as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Observable {
    Ip,
    Arn,
    AccessKeyId,
    AccountId,
    Bucket,
    ObjectKey,
    UserAgent,
    Text,
}

impl Observable {
    pub const ALL: [Observable; 8] = [
        Observable::Ip,
        Observable::Arn,
        Observable::AccessKeyId,
        Observable::AccountId,
        Observable::Bucket,
        Observable::ObjectKey,
        Observable::UserAgent,
        Observable::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Observable::Ip => "ip",
            Observable::Arn => "arn",
            Observable::AccessKeyId => "access_key_id",
            Observable::AccountId => "account_id",
            Observable::Bucket => "bucket",
            Observable::ObjectKey => "object_key",
            Observable::UserAgent => "user_agent",
            Observable::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<Observable> {
        Observable::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceAdded {
    /// The step the responder was on, if any.
    pub step: NextStep,
    #[serde(rename = "type")]
    pub observable: Observable,
    pub value: String,
    pub note: Option<String>,
    /// When the evidence was recorded, for evidence recorded offline in a shared case and
    /// appended when the network came back (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_offline: Option<String>,
}
