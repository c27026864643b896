//! A minimal RESP client over a plain `TcpStream`: readiness and cluster checks without a
//! Redis client crate.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::url::Endpoint;
use crate::LOOPBACK;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Connects within `timeout` (in total over all resolved addresses) and sets I/O timeouts.
pub(crate) fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "host resolved to no address");
    for addr in addrs {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"));
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(stream) => {
                let remaining = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                stream.set_read_timeout(Some(remaining))?;
                stream.set_write_timeout(Some(remaining))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last_error = error,
        }
    }
    Err(last_error)
}

pub(crate) fn command(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    args: &[&str],
) -> io::Result<Reply> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(reader)
}

pub(crate) fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, body) = line.split_at_checked(1).unwrap_or(("", ""));
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {line:?}"));
    let length = || body.parse::<i64>().map_err(|_| invalid());
    match kind {
        "+" => Ok(Reply::Simple(body.to_owned())),
        "-" => Ok(Reply::Error(body.to_owned())),
        ":" => Ok(Reply::Integer(length()?)),
        "$" => {
            let Ok(len) = usize::try_from(length()?) else {
                return Ok(Reply::Bulk(None));
            };
            let mut data = vec![0; len + 2];
            reader.read_exact(&mut data)?;
            data.truncate(len);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let Ok(len) = usize::try_from(length()?) else {
                return Ok(Reply::Array(None));
            };
            let items = (0..len)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()?;
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(invalid()),
    }
}

/// A connection with its buffered reader (both halves of one socket).
pub(crate) fn session(
    endpoint: &Endpoint,
    timeout: Duration,
) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = connect(&endpoint.host, endpoint.port, timeout)?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok((stream, reader))
}

pub(crate) fn ping_endpoint(endpoint: &Endpoint, timeout: Duration) -> bool {
    let answers = || -> io::Result<bool> {
        let (mut stream, mut reader) = session(endpoint, timeout)?;
        if let Some(password) = &endpoint.password {
            let mut auth = vec!["AUTH"];
            if let Some(username) = &endpoint.username {
                auth.push(username);
            }
            auth.push(password);
            if let Reply::Error(_) = command(&mut stream, &mut reader, &auth)? {
                return Ok(false);
            }
        }
        let reply = command(&mut stream, &mut reader, &["PING"])?;
        Ok(reply == Reply::Simple("PONG".into()))
    };
    answers().unwrap_or(false)
}

/// Whether the Redis on `port` answers PING *and* is the process `pid`: between our probe and
/// its bind, another test's Redis may have taken the port, and it would answer PING too.
pub(crate) fn answers_as(port: u16, pid: u32) -> bool {
    let answers = || -> io::Result<bool> {
        let (mut stream, mut reader) =
            session(&Endpoint::loopback(port), Duration::from_millis(500))?;
        if command(&mut stream, &mut reader, &["PING"])? != Reply::Simple("PONG".into()) {
            return Ok(false);
        }
        let Reply::Bulk(Some(info)) = command(&mut stream, &mut reader, &["INFO", "server"])?
        else {
            return Ok(false);
        };
        let info = String::from_utf8_lossy(&info);
        Ok(info
            .lines()
            .any(|line| line.trim_end() == format!("process_id:{pid}")))
    };
    answers().unwrap_or(false)
}

pub(crate) fn cluster_info(port: u16) -> Option<String> {
    let (mut stream, mut reader) =
        session(&Endpoint::loopback(port), Duration::from_secs(1)).ok()?;
    match command(&mut stream, &mut reader, &["CLUSTER", "INFO"]).ok()? {
        Reply::Bulk(Some(info)) => Some(String::from_utf8_lossy(&info).into_owned()),
        Reply::Simple(_)
        | Reply::Error(_)
        | Reply::Integer(_)
        | Reply::Bulk(None)
        | Reply::Array(_) => None,
    }
}

pub(crate) fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((LOOPBACK, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_resp_reply_kind() {
        let mut input: &[u8] = b"+OK\r\n-ERR x\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n+a\r\n:1\r\n";
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Error("ERR x".into())
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Integer(42));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Bulk(Some(b"foo".to_vec()))
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Array(Some(vec![Reply::Simple("a".into()), Reply::Integer(1)]))
        );
        assert!(read_reply(&mut input).is_err());
    }
}
