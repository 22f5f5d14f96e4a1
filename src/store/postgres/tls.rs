//! TLS to PostgreSQL, when the URL asks for it: reads libpq's `sslmode` and `sslrootcert` out of a
//! `postgres://` URL and builds the rustls connector the driver takes. Knows nothing of rally's
//! tables; used by the store's connect alone.
//!
//! libpq's modes, as rally reads them (<https://www.postgresql.org/docs/current/libpq-ssl.html>):
//! `disable`, `allow` and `prefer` (libpq's default) connect without TLS, as rally always did;
//! `require`, `verify-ca` and `verify-full` connect only over TLS, and rally verifies the server's
//! certificate and host name in all three (libpq's `require` does not verify: a server with a
//! self-signed certificate needs `sslrootcert=` naming it, which is safer anyway). The roots are the
//! PEM file `sslrootcert` names, or the system's store when it is absent or `system`. As in libpq,
//! the mode is ignored when every host is a Unix socket (the store's connect sees to that).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What a URL asks of the connection's encryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls {
    /// No TLS: the URL's `sslmode` is absent, `disable`, `allow` or `prefer`.
    Off,
    /// Only over TLS, verifying the server against these roots.
    Required(Roots),
}

/// Where the certificates that may sign the server's come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's store (`sslrootcert` absent or `system`).
    System,
    /// A PEM file of one or more certificates (`sslrootcert=/path/ca.pem`).
    File(PathBuf),
}

/// Splits libpq's TLS parameters off `url`: returns the URL the driver reads (no `sslrootcert`,
/// which it does not know; `sslmode` as one of its `disable`/`prefer`/`require`) and what TLS the
/// URL asks for. Errors: a `sslmode` libpq does not know either, named with the ones it does.
pub fn split(url: &str) -> Result<(String, Tls), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Tls::Off));
    };
    let mut mode: Option<String> = None;
    let mut root: Option<String> = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(percent_decode(value)),
            "sslrootcert" => root = Some(percent_decode(value)),
            _ => kept.push(pair.to_owned()),
        }
    }
    let tls = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => Tls::Off,
        Some("require" | "verify-ca" | "verify-full") => Tls::Required(match root.as_deref() {
            None | Some("system") => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
        }),
        Some(other) => {
            return Err(format!(
                "sslmode={other} is not a mode PostgreSQL knows; use disable, allow, prefer, require, verify-ca or verify-full"
            ));
        }
    };
    // The driver's own spelling: plain for `Off` (its `prefer` with no TLS connector is plain).
    kept.push(format!("sslmode={}", if tls == Tls::Off { "disable" } else { "require" }));
    Ok((format!("{base}?{}", kept.join("&")), tls))
}

/// The driver's TLS connector verifying against `roots`. Errors: the root file cannot be read or
/// holds no certificate; the system's store is empty.
pub fn connector(roots: &Roots) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::File(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| format!("cannot read the certificates in sslrootcert={}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert={} holds no certificate rally can use", path.display()));
            }
        }
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err("the system holds no root certificates; name the server's CA with sslrootcert=".into());
            }
        }
    }
    // The provider named, not the process default: another crate in the tree may enable a second one.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `%2F` -> `/`: a path in a URL's query may be percent-encoded.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sslmode_or_with_a_plain_one_the_connection_stays_plain() {
        for url in
            ["postgres://h/db?application_name=x", "postgres://h/db?sslmode=prefer", "postgres://h/d?sslmode=allow"]
        {
            let (driver, tls) = split(url).unwrap();
            assert_eq!(tls, Tls::Off, "{url}");
            assert!(driver.ends_with("sslmode=disable"), "{driver}");
        }
        assert_eq!(split("postgres://h/db").unwrap(), ("postgres://h/db".to_string(), Tls::Off));
    }

    #[test]
    fn require_and_the_verify_modes_take_tls_with_the_roots_named() {
        let (driver, tls) = split(
            "postgresql://u@db.example.com/rally?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(tls, Tls::Required(Roots::File("/etc/ca.pem".into())));
        assert_eq!(driver, "postgresql://u@db.example.com/rally?connect_timeout=5&sslmode=require");
        for mode in ["require", "verify-ca"] {
            assert_eq!(split(&format!("postgres://h/d?sslmode={mode}")).unwrap().1, Tls::Required(Roots::System));
        }
        assert_eq!(split("postgres://h/d?sslmode=require&sslrootcert=system").unwrap().1, Tls::Required(Roots::System));
    }

    #[test]
    fn an_unknown_sslmode_is_refused_with_the_modes_there_are() {
        let e = split("postgres://h/d?sslmode=always").unwrap_err();
        assert!(e.contains("sslmode=always") && e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_root_file_that_is_missing_or_holds_no_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = connector(&Roots::File(missing.clone())).err().unwrap();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = connector(&Roots::File(empty)).err().unwrap();
        assert!(e.contains("holds no certificate"), "{e}");
    }
}
