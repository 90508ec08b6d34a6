//! Attacks on the connection rather than on the content: slow senders, huge bodies,
//! too many headers, entity bombs. Each on loopback, bounded in time, and each checks
//! that an honest partner is still served.

mod common;

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AUTH: &str = "ZGVtbzpkZW1vLXBhc3N3b3Jk"; // demo:demo-password

async fn bounded<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the test ran past its time bound")
}

/// Reads an answer head (status line) within `secs`.
async fn status_of(sock: &mut TcpStream, secs: u64) -> u16 {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, sock.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}

/// 500 connections sending their request one byte a second: an honest partner is
/// answered quickly all along, and the slow ones are cut at the header timeout.
#[tokio::test]
async fn five_hundred_slow_connections_do_not_stop_an_honest_client() {
    let s = common::start_with(|c| c.header_timeout_ms = 3000).await;
    let addr = s.running.as_ref().unwrap().addr;
    bounded(60, async {
        let mut slow = Vec::new();
        for _ in 0..500 {
            slow.push(tokio::spawn(async move {
                let mut sock = TcpStream::connect(addr).await.unwrap();
                let head = b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n";
                let started = Instant::now();
                for b in head.iter() {
                    // A write refused (reset) means the server closed it too.
                    if sock.write_all(&[*b]).await.is_err() {
                        return (true, started.elapsed());
                    }
                    // Stop by ourselves after 8 s whatever happens.
                    if started.elapsed() > Duration::from_secs(8) {
                        return (false, started.elapsed());
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    // A closed connection shows as a read of 0 or an error.
                    let mut one = [0u8; 64];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(1), sock.read(&mut one)).await
                    {
                        let _ = n;
                        return (true, started.elapsed());
                    }
                }
                (false, started.elapsed())
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut worst = Duration::ZERO;
        for _ in 0..10 {
            let t = Instant::now();
            let a = s.form("command=balance.get").await;
            assert_eq!(a.code(), 1000);
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(worst < Duration::from_secs(2), "an honest request took {worst:?}");
        let mut cut = 0;
        let mut latest = Duration::ZERO;
        for t in slow {
            let (closed, after) = t.await.unwrap();
            if closed {
                cut += 1;
                latest = latest.max(after);
            }
        }
        eprintln!("500 slow connections: {cut} cut by the server, the last after {latest:?}; worst honest answer {worst:?}");
        assert_eq!(cut, 500, "slow connections left open");
        assert!(latest < Duration::from_secs(6), "{latest:?}");
    })
    .await;
    s.stop().await;
}

/// A body declared as 100 MB is refused from its head: the answer comes while almost
/// all of it is still unsent.
#[tokio::test]
async fn a_100_mb_body_is_refused_without_being_read() {
    let s = common::start().await;
    let addr = s.running.as_ref().unwrap().addr;
    bounded(30, async {
        let t = Instant::now();
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {AUTH}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 104857600\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&[b'z'; 65536]).await.unwrap();
        assert_eq!(status_of(&mut sock, 5).await, 413);
        let took = t.elapsed();
        // Chunked, no length: the server stops reading once past its cap (1 MB) and
        // answers; the sender manages to push only a little more than the cap.
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST /api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {AUTH}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let chunk = [format!("{:x}\r\n", 65536).into_bytes(), vec![b'z'; 65536], b"\r\n".to_vec()]
            .concat();
        let (mut rd, mut wr) = sock.into_split();
        let writer = tokio::spawn(async move {
            let mut sent = 0usize;
            while sent < 100 << 20 {
                match tokio::time::timeout(Duration::from_secs(2), wr.write_all(&chunk)).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    _ => break,
                }
            }
            sent
        });
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
        drop(rd);
        let sent = writer.await.unwrap();
        eprintln!("100 MB bodies: declared one refused after {took:?}; chunked one stopped after {sent} bytes sent");
        assert!(sent < 32 << 20, "{sent} bytes went out before the refusal");
        assert!(took < Duration::from_secs(2), "{took:?}");
    })
    .await;
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    s.stop().await;
}

/// Too many headers, or one huge header: 431, and the server goes on.
#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let s = common::start().await;
    let addr = s.running.as_ref().unwrap().addr;
    bounded(30, async {
        let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
        let mut sock = TcpStream::connect(addr).await.unwrap();
        sock.write_all(format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(status_of(&mut sock, 5).await, 431);
        let huge = "a".repeat(1 << 20);
        let mut sock = TcpStream::connect(addr).await.unwrap();
        let _ = sock
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").as_bytes(),
            )
            .await;
        assert_eq!(status_of(&mut sock, 5).await, 431);
    })
    .await;
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    s.stop().await;
}

/// A billion-laughs document is refused at its DTD, in milliseconds, nothing expanded.
#[tokio::test]
async fn a_billion_laughs_is_refused_in_milliseconds() {
    let s = common::start().await;
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 2..=9 {
        let prev = if i == 2 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str("]>\n<request command=\"balance.get\"><x>&lol9;</x></request>");
    bounded(30, async {
        let t = Instant::now();
        let a = s
            .raw(
                s.client
                    .post(&s.url)
                    .basic_auth(common::LOGIN, Some(common::PASSWORD))
                    .header("content-type", "application/xml")
                    .body(doc.clone()),
            )
            .await;
        let took = t.elapsed();
        assert_eq!(a.code(), 2001, "{}", a.body);
        assert!(a.body.len() < 2000, "{}", a.body);
        eprintln!("billion laughs: refused in {took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    })
    .await;
    s.stop().await;
}
