//! Just enough of the Redis protocol (RESP2) over a blocking `TcpStream` for
//! tests to check a server is up and to clean up after themselves, without
//! pulling an async runtime or the redis crate into every test.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A reply, as far as tests look at one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bulk_text(&self) -> Option<String> {
        match self {
            Reply::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Reply::Simple(text) => Some(text.clone()),
            _ => None,
        }
    }
}

/// Where a `redis://[user[:password]@]host[:port][/db]` URL points.
/// (No percent-decoding: test URLs do not need it.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub db: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Option<Target> {
        let rest = url.strip_prefix("redis://")?;
        let (authority, db) = match rest.split_once('/') {
            Some((authority, db)) => (authority, Some(db).filter(|db| !db.is_empty())),
            None => (rest, None),
        };
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };
        let (user, password) = match credentials.map(|c| c.split_once(':')) {
            Some(Some((user, password))) => (
                Some(user.to_owned()).filter(|user| !user.is_empty()),
                Some(password.to_owned()),
            ),
            Some(None) => (credentials.map(str::to_owned), None),
            None => (None, None),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (host_port, 6379),
        };
        Some(Target {
            host: host.to_owned(),
            port,
            user,
            password,
            db: db.map(str::to_owned),
        })
    }
}

pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects, authenticates and selects the database the URL names.
    pub fn open(target: &Target, timeout: Duration) -> io::Result<Connection> {
        let address = (target.host.as_str(), target.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{} does not resolve", target.host)))?;
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut connection = Connection {
            reader: BufReader::new(stream),
        };
        if let Some(password) = &target.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &target.user {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            connection.expect_ok(&auth)?;
        }
        if let Some(db) = &target.db {
            connection.expect_ok(&[b"SELECT", db.as_bytes()])?;
        }
        Ok(connection)
    }

    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request)?;
        self.read_reply()
    }

    fn expect_ok(&mut self, args: &[&[u8]]) -> io::Result<()> {
        match self.command(args)? {
            Reply::Error(error) => Err(io::Error::other(error)),
            _ => Ok(()),
        }
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if !line.ends_with("\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-reply",
            ));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
        let number = || {
            rest.parse::<i64>()
                .map_err(|_| io::Error::other(format!("bad RESP line {line:?}")))
        };
        Ok(match kind {
            "+" => Reply::Simple(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(number()?),
            "$" => match usize::try_from(number()?) {
                Err(_) => Reply::Bulk(None),
                Ok(length) => {
                    let mut bytes = vec![0; length + 2];
                    self.reader.read_exact(&mut bytes)?;
                    bytes.truncate(length);
                    Reply::Bulk(Some(bytes))
                }
            },
            "*" => match usize::try_from(number()?) {
                Err(_) => Reply::Array(None),
                Ok(count) => Reply::Array(Some(
                    (0..count)
                        .map(|_| self.read_reply())
                        .collect::<io::Result<_>>()?,
                )),
            },
            _ => return Err(io::Error::other(format!("bad RESP line {line:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_urls_tests_use() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6380"),
            Some(Target {
                host: "127.0.0.1".into(),
                port: 6380,
                user: None,
                password: None,
                db: None
            })
        );
        let full = Target::parse("redis://me:pw@host/3").unwrap();
        assert_eq!(
            (full.user.as_deref(), full.password.as_deref(), full.port),
            (Some("me"), Some("pw"), 6379)
        );
        assert_eq!(full.db.as_deref(), Some("3"));
        assert_eq!(
            Target::parse("redis://:pw@h:1")
                .unwrap()
                .password
                .as_deref(),
            Some("pw")
        );
        assert_eq!(Target::parse("postgresql://h"), None);
    }
}
