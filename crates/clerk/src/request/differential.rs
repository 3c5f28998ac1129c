//! Test support for comparing the request path's hand-written JavaScript semantics with
//! JavaScript itself: reproducible generated inputs, and node to answer them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `count` strings of 1 to `max_pieces` pieces each, picked by a fixed xorshift64 sequence
/// (reproducible, and no dependency).
pub(super) fn generated(pieces: &[&str], count: usize, max_pieces: usize, seed: u64) -> Vec<String> {
    let mut state = seed;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    (0..count)
        .map(|_| {
            let len = 1 + next(max_pieces);
            (0..len).map(|_| pieces[next(pieces.len())]).collect()
        })
        .collect()
}

/// Runs `script` (an ES module) in node, in `dir` if given, with `input` as JSON on its stdin;
/// its stdout read as JSON. Panics if node is missing or fails.
pub(super) fn node<T: serde::de::DeserializeOwned>(
    dir: Option<&Path>,
    script: &str,
    input: &impl serde::Serialize,
) -> T {
    let mut command = Command::new("node");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut node = command
        .args(["--input-type=module", "-e", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/bootstrap installs it)");
    node.stdin.take().unwrap().write_all(&serde_json::to_vec(input).unwrap()).unwrap();
    let out = node.wait_with_output().unwrap();
    assert!(out.status.success(), "node failed");
    serde_json::from_slice(&out.stdout).unwrap()
}
