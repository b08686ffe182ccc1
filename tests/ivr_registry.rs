//! Flow reloads: on command and on file change; a broken new version is refused with its
//! errors while the old one keeps serving; calls in progress keep their version.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline::ivr::testing::{played, wall, Sim};
use hotline::ivr::*;

fn flow(prompt: &str) -> String {
    format!(
        "[flow]\nname = \"hello\"\ndids = [\"12345\"]\nstart = \"p\"\n\n[nodes.p]\nkind = \"play\"\nprompt = \"{prompt}\"\nnext = \"h\"\n\n[nodes.h]\nkind = \"hangup\"\n"
    )
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("prompts/zh-CN");
    std::fs::create_dir_all(&p).unwrap();
    for n in ["one", "two"] {
        std::fs::write(p.join(format!("{n}.wav")), b"RIFF").unwrap();
    }
    std::fs::write(dir.path().join("hello.toml"), flow("one")).unwrap();
    dir
}

fn env() -> Env {
    Env {
        calendar: Arc::new(AlwaysOpen),
        lists: Arc::new(StaticLists::new()),
    }
}

fn first_prompt(set: Arc<FlowSet>) -> String {
    let mut s = Sim::new(set, "hello", "1", wall("2026-11-23 10:00"), env());
    played(&s.start())[0][0].clone()
}

#[test]
fn reload_on_command_swaps_in_a_good_version_and_refuses_a_broken_one() {
    let dir = setup();
    let (mut reg, out) = FlowRegistry::open(dir.path());
    assert!(out.refused.is_empty(), "{}", out.report);
    assert_eq!(out.version, 1);
    let v1 = reg.current();
    assert_eq!(first_prompt(v1.clone()), "one");
    // A call starts on version 1 before the change.
    let mut in_progress = Sim::new(v1.clone(), "hello", "1", wall("2026-11-23 10:00"), env());
    in_progress.start();

    std::fs::write(dir.path().join("hello.toml"), flow("two")).unwrap();
    let out = reg.reload();
    assert_eq!(out.updated, vec!["hello".to_string()]);
    assert_eq!(out.version, 2);
    assert_eq!(first_prompt(reg.current()), "two");
    assert_eq!(in_progress.call.flow_version(), 1);

    // A broken edit: refused with file:line:column, version 2 keeps serving.
    std::fs::write(
        dir.path().join("hello.toml"),
        flow("two").replace("next = \"h\"", "next = \"nowhere\""),
    )
    .unwrap();
    let out = reg.reload();
    assert_eq!(out.refused, vec![dir.path().join("hello.toml")]);
    assert_eq!(out.version, 2);
    let msg = out.report.to_string();
    assert!(
        msg.contains("hello.toml:9:8: error: unknown target node `nowhere`"),
        "{msg}"
    );
    assert_eq!(first_prompt(reg.current()), "two");
    assert!(reg.current().by_did("12345").is_some());

    // The call that started on version 1 still finishes on version 1's graph.
    let a = in_progress.finish_prompt();
    assert_eq!(a, vec![Action::Hangup]);
}

#[test]
fn polling_notices_changed_added_and_removed_files() {
    let dir = setup();
    let (mut reg, _) = FlowRegistry::open(dir.path());
    assert!(reg.poll_changes().is_none(), "nothing changed");

    // Same length, different content: the size check alone would miss it, so wait for mtime.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.path().join("hello.toml"), flow("two")).unwrap();
    let out = reg.poll_changes().expect("change noticed");
    assert_eq!(out.updated, vec!["hello".to_string()]);
    assert!(reg.poll_changes().is_none());

    let other = flow("one")
        .replace("name = \"hello\"", "name = \"other\"")
        .replace("dids = [\"12345\"]\n", "");
    std::fs::write(dir.path().join("other.toml"), other).unwrap();
    let out = reg.poll_changes().expect("new file noticed");
    assert_eq!(out.updated, vec!["other".to_string()]);
    assert_eq!(reg.current().flows.len(), 2);

    std::fs::remove_file(dir.path().join("other.toml")).unwrap();
    let out = reg.poll_changes().expect("removal noticed");
    assert_eq!(out.removed, vec!["other".to_string()]);
    assert_eq!(reg.current().flows.len(), 1);
}

#[test]
fn a_broken_new_file_is_refused_and_unchanged_files_keep_their_arc() {
    let dir = setup();
    let (mut reg, _) = FlowRegistry::open(dir.path());
    let before = reg.current().get("hello").cloned().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[flow\nstart = 1\n").unwrap();
    let out = reg.reload();
    assert_eq!(out.refused, vec![dir.path().join("bad.toml")]);
    assert!(
        out.report.to_string().contains("bad.toml:1:"),
        "{}",
        out.report
    );
    assert!(Arc::ptr_eq(&before, reg.current().get("hello").unwrap()));
    assert_eq!(out.version, 1, "nothing new was accepted");
}

#[test]
fn opening_a_missing_folder_gives_an_empty_set() {
    let (reg, out) = FlowRegistry::open(Path::new("/nonexistent/ivr-flows"));
    assert!(reg.current().flows.is_empty());
    assert!(out.updated.is_empty());
}

#[tokio::test]
async fn the_watcher_publishes_changed_flows_and_serves_reload_commands() {
    let dir = setup();
    let (reg, _) = FlowRegistry::open(dir.path());
    let w = FlowWatcher::spawn(reg, Duration::from_millis(20));
    assert_eq!(first_prompt(w.current()), "one");
    let mut rx = w.subscribe();

    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(dir.path().join("hello.toml"), flow("two")).unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("change published within 5 s")
        .unwrap();
    assert_eq!(first_prompt(w.current()), "two");

    // A broken edit through the reload command: refused, "two" keeps serving.
    std::fs::write(dir.path().join("hello.toml"), "[flow]\nstart = \n").unwrap();
    let out = w.reload().await.expect("watcher running");
    assert_eq!(out.refused.len(), 1);
    assert!(
        out.report.to_string().contains("hello.toml:2:"),
        "{}",
        out.report
    );
    assert_eq!(first_prompt(w.current()), "two");
}
