//! Scratch databases for the tests that need a real PostgreSQL, unit and integration tests alike
//! (hence `pub`, hidden from the docs, rather than `#[cfg(test)]`, which integration tests do not
//! see). Nothing here runs outside tests.
//!
//! `RALLY_TEST_POSTGRES` names a server: a libpq URL (`postgresql://postgres@%2Ftmp%2Fdir/postgres`,
//! a socket directory percent-encoded as the host) or a `key=value` string, whatever
//! `postgres::Config` reads, connecting as a user who may create databases. Each test gets a database
//! of its own on it, dropped when the test ends, so tests run in parallel and leave nothing behind.
//! `.ci/run` starts a server and sets the variable, and also `RALLY_REQUIRE_POSTGRES=1`, so that in
//! CI a missing server fails the tests instead of skipping them.

use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::{Client, Config, NoTls};

use super::describe;

/// The variable naming the test server.
pub const SERVER_VAR: &str = "RALLY_TEST_POSTGRES";
/// Set to 1 where PostgreSQL tests must run (CI): then an unset [`SERVER_VAR`] fails them.
pub const REQUIRE_VAR: &str = "RALLY_REQUIRE_POSTGRES";

/// Databases this process created so far, for unique names.
static CREATED: AtomicUsize = AtomicUsize::new(0);

/// One test's own empty database, `rally_t_<pid>_<n>`, on the server [`SERVER_VAR`] names. Dropping
/// it drops the database, closing any connection still open to it.
pub struct ScratchDatabase {
    name: String,
    url: String,
    config: Config,
    server: Config,
}

/// A fresh database for the calling test, or `None` when [`SERVER_VAR`] is unset: then the test
/// should return at once (this says on stderr that it skipped). Use it as
/// `let Some(db) = scratch_database() else { return };`.
///
/// Panics (failing the test) when [`SERVER_VAR`] is unset but [`REQUIRE_VAR`] is 1, when it does not
/// parse, or when the server cannot be reached or refuses to create the database. May be called from
/// an async test: the blocking client works on a thread of its own here.
pub fn scratch_database() -> Option<ScratchDatabase> {
    let Ok(server_url) = std::env::var(SERVER_VAR) else {
        if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
            panic!(
                "{REQUIRE_VAR} is set but {SERVER_VAR} is not: .ci/run starts a PostgreSQL and sets both \
                 (see the README's tests section to do the same by hand)"
            );
        }
        // Straight to stderr, past the test harness's capture, so that a skip shows in every run.
        let test = std::thread::current().name().map(|n| format!("{n}: ")).unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "{test}skipped: {SERVER_VAR} is not set (.ci/run starts a PostgreSQL; see README)"
        );
        return None;
    };
    let server = Config::from_str(&server_url)
        .unwrap_or_else(|e| panic!("{SERVER_VAR} is not a connection string the postgres crate reads: {e}"));
    let name = format!("rally_t_{}_{}", std::process::id(), CREATED.fetch_add(1, Ordering::Relaxed));
    let url = with_dbname(&server_url, &name);
    let config = Config::from_str(&url).unwrap_or_else(|e| panic!("the scratch database's URL {url}: {e}"));
    on_own_thread(|| {
        let mut admin = server
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL that {SERVER_VAR} names: {}", describe(&e)));
        // A run killed before its guards dropped can leave a database behind, and a later process may
        // get the same pid: a name is this process's from the moment it is chosen.
        // (Two calls: statements sent together run as one transaction, which these refuse.)
        for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
            admin
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("cannot create the scratch database {name}: {}", describe(&e)));
        }
    });
    Some(ScratchDatabase { name, url, config, server })
}

impl ScratchDatabase {
    /// The database's name, `rally_t_<pid>_<n>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection string for this database, in the form [`SERVER_VAR`] was given in (a URL or
    /// `key=value` pairs): what a rally configuration or command line would be handed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The parsed connection settings for this database.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new connection to this database. Blocking, like every call of the `postgres` crate: call it
    /// from a test's own thread or a blocking task, not from an async task. Panics if the server
    /// refuses.
    pub fn connect(&self) -> Client {
        self.config
            .connect(NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the scratch database {}: {}", self.name, describe(&e)))
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Never panics: a panic while a failing test unwinds would abort the whole test binary.
        let dropped = on_own_thread(|| {
            let mut admin = self.server.connect(NoTls).map_err(|e| describe(&e))?;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .map_err(|e| describe(&e))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the scratch database {}: {e}", self.name);
        }
    }
}

/// Runs `f` on a thread of its own and returns what it returns (or panics as it panicked): the
/// blocking client starts a runtime of its own, which panics on a thread that is inside one.
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// `connection` with its database replaced by `dbname`: the path of a URL, or a `dbname` pair
/// appended to `key=value` pairs (where the last of a key wins). A `dbname` in a URL's query string
/// would still win, and is not supported.
fn with_dbname(connection: &str, dbname: &str) -> String {
    let Some(scheme_end) = ["postgresql://", "postgres://"]
        .iter()
        .find(|scheme| connection.starts_with(*scheme))
        .map(|scheme| scheme.len())
    else {
        return format!("{connection} dbname={dbname}");
    };
    // The authority (user, password, hosts; a socket directory is percent-encoded) ends at the
    // first '/' or '?'; the database is the path up to the query.
    let rest = &connection[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let query = after.find('?').map_or("", |q| &after[q..]);
    format!("{}{}/{dbname}{query}", &connection[..scheme_end], &rest[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_url_names_the_scratch_database_in_the_form_it_was_given() {
        let cases = [
            ("postgresql://postgres@%2Ftmp%2Fpg/postgres", "postgresql://postgres@%2Ftmp%2Fpg/rally_t_1_2"),
            (
                "postgres://u:p@localhost:5433/db?sslmode=disable",
                "postgres://u:p@localhost:5433/rally_t_1_2?sslmode=disable",
            ),
            ("postgresql://localhost", "postgresql://localhost/rally_t_1_2"),
            ("postgresql://localhost?user=me", "postgresql://localhost/rally_t_1_2?user=me"),
            (
                "host=/tmp/pg user=postgres dbname=postgres",
                "host=/tmp/pg user=postgres dbname=postgres dbname=rally_t_1_2",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(with_dbname(given, "rally_t_1_2"), want, "from {given}");
            let config = Config::from_str(want).unwrap();
            assert_eq!(config.get_dbname(), Some("rally_t_1_2"), "from {given}");
        }
        let socket = Config::from_str("postgresql://postgres@%2Ftmp%2Fpg/rally_t_1_2").unwrap();
        assert_eq!(socket.get_hosts(), [postgres::config::Host::Unix("/tmp/pg".into())]);
    }

    #[test]
    fn a_scratch_database_is_empty_and_gone_after_its_guard() {
        let Some(db) = scratch_database() else { return };
        let mut client = db.connect();
        let tables: i64 = client
            .query_one("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
            .unwrap()
            .get(0);
        assert_eq!(tables, 0);
        let name = db.name().to_string();
        let server = db.server.clone();
        // Dropped with the client still connected: FORCE closes it.
        drop(db);
        let mut admin = server.connect(NoTls).unwrap();
        let left: i64 =
            admin.query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name]).unwrap().get(0);
        assert_eq!(left, 0, "{name} is still there");
        assert!(client.is_closed() || client.simple_query("SELECT 1").is_err());
    }

    #[tokio::test]
    async fn a_scratch_database_can_be_made_from_an_async_test() {
        let Some(db) = scratch_database() else { return };
        let config = db.config().clone();
        let one: i32 = tokio::task::spawn_blocking(move || {
            config.connect(NoTls).unwrap().query_one("SELECT 1", &[]).unwrap().get(0)
        })
        .await
        .unwrap();
        assert_eq!(one, 1);
    }
}
