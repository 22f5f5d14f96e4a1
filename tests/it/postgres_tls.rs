//! rally over TLS to PostgreSQL, as hosted databases require: `.ci/postgres` serves a TLS port
//! with a certificate signed by a CA made for the run. The URL's libpq parameters decide:
//! `sslmode=require` with `sslrootcert=` naming that CA connects encrypted; a CA rally was not
//! given is refused with the fix; no `sslmode` stays plain, as before.

use std::process::{Command, Output};

const TLS_VAR: &str = "RALLY_TEST_POSTGRES_TLS";
const CA_VAR: &str = "RALLY_TEST_POSTGRES_CA";

fn rally(db: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rally"))
        .arg("--db")
        .arg(db)
        .args(["--now", "2026-11-27T12:00:00Z"])
        .args(args)
        .env_remove("RALLY_DB")
        .output()
        .expect("run rally")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The TLS server's URL without a database and its CA file, or `None` (skipped, said why) when the
/// environment has none; in CI (`RALLY_REQUIRE_POSTGRES=1`) a missing one fails the test.
fn tls_server() -> Option<(String, String)> {
    match (std::env::var(TLS_VAR), std::env::var(CA_VAR)) {
        (Ok(url), Ok(ca)) => Some((url, ca)),
        _ => {
            assert!(
                !std::env::var("RALLY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
                "RALLY_REQUIRE_POSTGRES=1 but {TLS_VAR} and {CA_VAR} are not set: .ci/postgres sets them"
            );
            eprintln!("postgres_tls: skipped: {TLS_VAR} and {CA_VAR} are not set (.ci/run starts a TLS PostgreSQL)");
            None
        }
    }
}

#[test]
fn a_url_asking_for_tls_connects_encrypted_verifies_the_server_and_says_how_to_fix_an_unknown_ca() {
    let Some((server, ca)) = tls_server() else { return };
    // The database itself is made over the socket; rally then reaches it over TCP.
    let Some(scratch) = rally::store::postgres::testing::scratch_database() else { return };
    let base = format!("{server}/{}", scratch.name());

    let tls = format!("{base}?sslmode=require&sslrootcert={ca}");
    let o = rally(&tls, &["guild", "set", "--guild", "5", "--timezone", "UTC"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = rally(&tls, &["db", "check"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.lines().any(|l| l.starts_with("connection: TLS (TLSv1.")), "{out}");

    // verify-full reads the same: the server's name is checked against its certificate.
    let o = rally(&format!("{base}?sslmode=verify-full&sslrootcert={ca}"), &["db", "check"]);
    assert!(text(&o).0.contains("connection: TLS ("), "{:?}", text(&o));

    // Without the CA the system's roots don't know the server: refused, with the fix.
    let o = rally(&format!("{base}?sslmode=require"), &["db", "check"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("invalid peer certificate") && err.contains("sslrootcert=/path/ca.pem"), "{err}");

    // A mode libpq does not know is named; nothing connects.
    let o = rally(&format!("{base}?sslmode=always"), &["db", "check"]);
    assert!(text(&o).1.contains("sslmode=always is not a mode PostgreSQL knows"), "{:?}", text(&o));

    // No sslmode: plain, as rally always connected.
    let o = rally(&base, &["db", "check"]);
    assert!(text(&o).0.contains("connection: not encrypted\n"), "{:?}", text(&o));
}
