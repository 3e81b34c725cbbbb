//! libpq's TLS options in `PG_URI`: `sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`. The driver understands only part of `sslmode` (no `verify-ca`,
//! no `verify-full`) and none of the file options, so they are taken out of
//! the URL here, before the driver parses the rest.

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use super::errors::unavailable;
use crate::StoreError;

/// What the URL asks of TLS, with libpq's meaning of each mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain connections only.
    Disable,
    /// TLS when the server offers it, unverified; plain otherwise (libpq's
    /// default).
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless a root
    /// certificate is given: then as `VerifyCa`, as libpq does).
    Require,
    /// TLS, the certificate chain checked against the roots, not the name.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// The accepted `sslmode` values, for error messages and documentation.
pub(crate) const MODES: &str = "disable, prefer, require, verify-ca, verify-full";

impl Mode {
    fn parse(value: &str) -> Result<Mode, StoreError> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(unavailable(format!(
                    "invalid PostgreSQL URL: sslmode={other:?} is not one of {MODES}"
                )));
            }
        })
    }
}

/// `sslrootcert=system`: the operating system's roots (as in libpq 16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    /// No file named: the system roots.
    System,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    pub(crate) mode: Mode,
    /// `None` when the URL names no root certificate.
    pub(crate) root_cert: Option<Roots>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

impl TlsOptions {
    /// What the connections will do, after libpq's rules: `require` with a
    /// root certificate checks the chain like `verify-ca`.
    pub(crate) fn effective_mode(&self) -> Mode {
        match (self.mode, &self.root_cert) {
            (Mode::Require, Some(_)) => Mode::VerifyCa,
            (mode, _) => mode,
        }
    }
}

const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Splits the TLS options off `url` (URL form `postgresql://…?sslmode=…` or
/// key/value form `host=… sslmode=…`): the URL without them, and the options.
pub(crate) fn split(url: &str) -> Result<(String, TlsOptions), StoreError> {
    let (rest, pairs) = if url.contains("://") {
        split_uri(url)
    } else {
        split_key_values(url)
    };
    let mut options = TlsOptions {
        mode: Mode::Prefer,
        root_cert: None,
        cert: None,
        key: None,
    };
    for (key, value) in pairs {
        match key.as_str() {
            "sslmode" => options.mode = Mode::parse(&value)?,
            "sslrootcert" if value == "system" => options.root_cert = Some(Roots::System),
            "sslrootcert" => options.root_cert = Some(Roots::File(PathBuf::from(value))),
            "sslcert" => options.cert = Some(PathBuf::from(value)),
            _ => options.key = Some(PathBuf::from(value)),
        }
    }
    if options.cert.is_some() != options.key.is_some() {
        return Err(unavailable(
            "invalid PostgreSQL URL: sslcert and sslkey go together (a client certificate \
             needs its key)",
        ));
    }
    Ok((rest, options))
}

/// The query string's TLS pairs (percent-decoded) out of a URL.
fn split_uri(url: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if KEYS.contains(&key) {
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            taken.push((key.to_owned(), value));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, taken)
}

/// The TLS pairs out of libpq's `key=value key='quoted value'` form. Other
/// pairs are kept verbatim, quotes and escapes included.
fn split_key_values(text: &str) -> (String, Vec<(String, String)>) {
    let mut kept: Vec<String> = Vec::new();
    let mut taken = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        // One token: `key = value`, the value possibly quoted.
        let mut raw = String::new();
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        raw.push_str(&key);
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            raw.push('=');
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next_if_eq(&'\'').is_some() {
                raw.push('\'');
                while let Some(c) = chars.next() {
                    raw.push(c);
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                raw.push(escaped);
                                value.push(escaped);
                            }
                        }
                        '\'' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    raw.push(c);
                    value.push(c);
                }
            }
        }
        if KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(raw);
        }
    }
    (kept.join(" "), taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> (String, TlsOptions) {
        match split(url) {
            Ok(split) => split,
            Err(error) => panic!("{url}: {error}"),
        }
    }

    #[test]
    fn prefer_is_the_default_and_other_options_stay() {
        let (rest, tls) = options("postgresql://u:p@h:5/db?application_name=x");
        assert_eq!(rest, "postgresql://u:p@h:5/db?application_name=x");
        assert_eq!(tls.mode, Mode::Prefer);
        assert_eq!(tls.root_cert, None);
    }

    #[test]
    fn tls_options_leave_the_uri() {
        let (rest, tls) = options(
            "postgres://h/db?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Ftmp%2Fca%20x.pem\
             &sslcert=/c.pem&sslkey=/k.pem",
        );
        assert_eq!(rest, "postgres://h/db?connect_timeout=3");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.root_cert, Some(Roots::File("/tmp/ca x.pem".into())));
        assert_eq!(tls.cert, Some("/c.pem".into()));
        assert_eq!(tls.key, Some("/k.pem".into()));
        let (rest, tls) = options("postgres://h/db?sslmode=require&sslrootcert=system");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(tls.root_cert, Some(Roots::System));
        assert_eq!(tls.effective_mode(), Mode::VerifyCa);
    }

    #[test]
    fn key_value_form_keeps_quoted_values() {
        let (rest, tls) = options(
            "host=h password='a b\\'c' sslmode = verify-ca sslrootcert='/x y/ca.pem' dbname=d",
        );
        assert_eq!(rest, "host=h password='a b\\'c' dbname=d");
        assert_eq!(tls.mode, Mode::VerifyCa);
        assert_eq!(tls.root_cert, Some(Roots::File("/x y/ca.pem".into())));
    }

    #[test]
    fn bad_values_are_refused_naming_them() {
        let error = split("postgresql://h/db?sslmode=allow")
            .err()
            .map(|e| e.to_string());
        let error = error.unwrap_or_default();
        assert!(error.contains("sslmode=\"allow\""), "{error}");
        assert!(error.contains("verify-full"), "{error}");
        let error = split("postgresql://h/db?sslcert=/c.pem")
            .err()
            .map(|e| e.to_string());
        assert!(error.unwrap_or_default().contains("sslkey"));
    }
}
