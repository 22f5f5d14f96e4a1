//! The layer rule's first step toward a second storage backend (issue 13): nothing above `app`
//! reaches into `store`. Handlers, the scheduler and the edges call `App` and name the storage
//! interface's types through `app`, so a backend can change under `app` alone.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layers above `app`. `src/bench` and `src/loopback` are not among them: the benchmark reads
/// and bulk-loads the store directly to measure it, and the loopbacks never touch it.
const ABOVE_APP: &[&str] = &[
    "src/handlers",
    "src/scheduler",
    "src/discord",
    "src/web",
    "src/crm",
    "src/main.rs",
    "src/demo.rs",
    "src/crm_cli.rs",
    "src/api_cli.rs",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())) {
            rust_files(&entry.expect("directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// What on a line reaches into `store`: a path through it (`crate::store::X`, `rally::store`,
/// `use crate::{store::X}`), or the `App::store` field (`app.store.x()`, also when rustfmt puts
/// `.store` on a line of its own). A method named `store(` (an atomic's) is not the field.
fn reaches_into_store(line: &str) -> Option<&'static str> {
    let bytes = line.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for (at, _) in line.match_indices("store") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + 5).copied();
        if before.is_some_and(ident) || after.is_some_and(ident) {
            continue;
        }
        if line[at + 5..].starts_with("::") || line[..at].ends_with("crate::") || line[..at].ends_with("rally::") {
            return Some("a path into `store`");
        }
        if before == Some(b'.') && after != Some(b'(') {
            return Some("`App::store`");
        }
    }
    None
}

#[test]
fn nothing_above_app_reaches_into_store() {
    let mut files = Vec::new();
    for top in ABOVE_APP {
        rust_files(&Path::new(ROOT).join(top), &mut files);
    }
    assert!(files.len() > 20, "the layers above app were not found under {ROOT}: {files:?}");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for (n, line) in text.lines().enumerate() {
            if let Some(what) = reaches_into_store(line) {
                let shown = file.strip_prefix(ROOT).unwrap_or(&file).display().to_string();
                found.push(format!("{shown}:{}: {what}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines above `app` reach into `store`; add or use an `App` method, and name the storage \
         interface's types through `app`:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_store_check_sees_every_way_in_and_nothing_else() {
    for line in [
        "use crate::store::DealRecord;",
        "fn f(s: crate::store::intake::Upserted) {}",
        "writeln!(out, \"{}\", rally::store::MIGRATIONS.len());",
        "use crate::{app::App, store::Team};",
        "ctx.app.store.kinds(guild).await?",
        "        .store",
        "let s = app.store.clone();",
        "let s = &app.store;",
    ] {
        assert!(reaches_into_store(line).is_some(), "missed: {line}");
    }
    for line in [
        "ms.store(t.timestamp_millis(), Ordering::SeqCst);",
        "// the activity is stored by now",
        "let restored = app.restore();",
        "use crate::app::deals::DealRecord;",
    ] {
        assert!(reaches_into_store(line).is_none(), "flagged: {line}");
    }
}
