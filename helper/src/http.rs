//! A minimal HTTP/1.1 GET for loopback checks (the smoke check, diagnose):
//! no TLS, no redirects, bounded in time and size.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// GET http://ADDR/PATH with a Host header; the body up to MAX bytes.
pub fn get(addr: SocketAddr, host: &str, path: &str, timeout: Duration, max: u64) -> Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("could not connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: floppies\r\nConnection: close\r\n\r\n")
        .with_context(|| format!("could not send the request to {addr}"))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).with_context(|| format!("no response from {addr}"))?;
    let status: u16 =
        line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).with_context(|| format!("not an HTTP response from {addr}: '{}'", line.trim()))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).context("the response headers ended early")?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse::<u64>().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
    }
    let body = if chunked { read_chunked(&mut reader, max)? } else { read_plain(&mut reader, length, max)? };
    Ok(Response { status, body })
}

fn read_plain(reader: &mut impl Read, length: Option<u64>, max: u64) -> Result<Vec<u8>> {
    let limit = length.unwrap_or(max).min(max);
    let mut body = Vec::new();
    reader.take(limit).read_to_end(&mut body).context("could not read the response body")?;
    if let Some(n) = length {
        if (body.len() as u64) < n.min(max) {
            bail!("the response body ended after {} of {n} bytes", body.len());
        }
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead, max: u64) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).context("a chunk header ended early")?;
        let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).with_context(|| format!("bad chunk size '{}'", line.trim()))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len() as u64 + size > max {
            bail!("the response body is larger than {max} bytes");
        }
        let start = body.len();
        body.resize(start + size as usize, 0);
        reader.read_exact(&mut body[start..]).context("a chunk ended early")?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).context("a chunk ended early")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(response: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Read the whole request first: closing with unread bytes would
            // reset the connection before the client reads the response.
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            s.write_all(response).unwrap();
            let _ = s.shutdown(std::net::Shutdown::Write);
        });
        addr
    }

    #[test]
    fn plain_and_chunked_bodies() {
        let t = Duration::from_secs(5);
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let r = get(addr, "localhost", "/x", t, 1 << 20).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let addr = serve_once(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        let r = get(addr, "localhost", "/x", t, 1 << 20).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        assert!(get(addr, "localhost", "/x", t, 1 << 20).is_err(), "a short body is an error");
    }
}
