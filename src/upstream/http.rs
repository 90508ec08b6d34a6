//! One HTTP exchange with an upstream, as every HTTP backend makes it: the answer is
//! read up to [`MAX_ANSWER_BYTES`], and a failure becomes a [`Trouble`] whose phrase is
//! fixed and whose detail (the transport error without its URL) has the upstream's
//! credentials redacted.

use super::{Secrets, Trouble, TroubleKind};

/// The largest upstream answer read; a longer one is an unclear answer.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// An answer: its HTTP status and its body (invalid UTF-8 replaced).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// Sends `req` and reads the answer, at most `cap` bytes of it.
pub async fn exchange(
    req: reqwest::RequestBuilder,
    secrets: &Secrets,
    cap: usize,
) -> Result<Reply, Trouble> {
    let mut resp = req.send().await.map_err(|e| trouble(e, secrets))?;
    let status = resp.status().as_u16();
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Trouble::new(
            TroubleKind::TooLarge,
            format!(
                "HTTP {status} with a body of {} bytes (at most {cap} are read)",
                resp.content_length().unwrap_or_default()
            ),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| trouble(e, secrets))? {
        if body.len() + chunk.len() > cap {
            return Err(Trouble::new(
                TroubleKind::TooLarge,
                format!("HTTP {status} with a body over {cap} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// What a transport error means for the order, and its detail for the log: the error
/// and its causes, without the URL (which may carry a query), redacted.
pub fn trouble(e: reqwest::Error, secrets: &Secrets) -> Trouble {
    let kind = if e.is_timeout() {
        TroubleKind::Timeout
    } else if e.is_body() || e.is_decode() {
        TroubleKind::Cut
    } else if refused(&e) {
        TroubleKind::Refused
    } else {
        TroubleKind::Unreachable
    };
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    Trouble::new(kind, secrets.redact(&detail))
}

fn refused(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_in_every_form() {
        let s = Secrets::new("reseller", "top secret/pass");
        for text in [
            "x top secret/pass y",
            "authinfo=reseller%3Atop%20secret%2Fpass",
            "authinfo=reseller%3Atop+secret%2Fpass&out=xml",
            "Authorization: Basic cmVzZWxsZXI6dG9wIHNlY3JldC9wYXNz",
            "reseller:top secret/pass",
        ] {
            assert!(s.holds(text), "{text}");
            assert!(!s.holds(&s.redact(text)), "{}", s.redact(text));
        }
        assert_eq!(s.public("Invalid IP", "refused"), "Invalid IP");
        assert_eq!(s.public("bad top secret/pass", "refused"), "refused");
        assert_eq!(super::super::log_text("a\nb\r\u{1b}c"), "a\\nb\\r\\u{1b}c");
        let long = super::super::log_text(&"x".repeat(5000));
        assert_eq!(long.chars().count(), 513);
        let none = Secrets::new("reseller", "");
        assert!(!none.holds("reseller:"));
        assert_eq!(none.redact("abc"), "abc");
    }

    #[tokio::test]
    async fn answers_are_capped_and_errors_carry_no_url() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    // A chunked answer, so no Content-Length announces its size.
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                        .await;
                    let chunk = vec![b'x'; 64 * 1024];
                    for _ in 0..40 {
                        let head = format!("{:x}\r\n", chunk.len());
                        if sock.write_all(head.as_bytes()).await.is_err()
                            || sock.write_all(&chunk).await.is_err()
                            || sock.write_all(b"\r\n").await.is_err()
                        {
                            return;
                        }
                    }
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        let http = reqwest::Client::new();
        let secrets = Secrets::new("reseller", "pw-123456");
        let big = exchange(
            http.get(format!("http://{addr}/x")),
            &secrets,
            MAX_ANSWER_BYTES,
        )
        .await
        .unwrap_err();
        assert_eq!(big.kind, TroubleKind::TooLarge);
        let small = exchange(http.get(format!("http://{addr}/x")), &secrets, 4 << 20)
            .await
            .unwrap();
        assert_eq!(small.body.len(), 40 * 64 * 1024);

        // A closed port: refused, and the detail names neither the URL nor its query.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let t = exchange(
            http.get(format!(
                "http://127.0.0.1:{port}/b?authinfo=reseller:pw-123456"
            )),
            &secrets,
            MAX_ANSWER_BYTES,
        )
        .await
        .unwrap_err();
        assert_eq!(t.kind, TroubleKind::Refused, "{t:?}");
        assert!(
            !t.detail.contains("authinfo") && !t.detail.contains("pw-123456"),
            "{t:?}"
        );
    }
}
