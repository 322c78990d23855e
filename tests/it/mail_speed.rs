//! A message must not cost the 40 ms of a Nagle stall: lettre writes the
//! body and the closing dot as two writes, and without TCP_NODELAY the
//! second waits for the server's delayed ACK. Measured against a minimal
//! SMTP server on loopback written here (it answers at once), sending one
//! message after another on one pooled connection: the median must stay
//! far below 40 ms (it is well under 1 ms with the option set).

use std::time::{Duration, Instant};

use command_center::mail::{Rendered, Transport, build_message};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Speaks just enough SMTP for lettre: greeting, EHLO, MAIL, RCPT, DATA,
/// RSET, NOOP and QUIT, one connection after another.
async fn sink(listener: tokio::net::TcpListener) {
    loop {
        let Ok((s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let _ = w.write_all(b"220 sink ESMTP\r\n").await;
            let mut line = String::new();
            let mut in_data = false;
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        let _ = w.write_all(b"250 2.0.0 queued\r\n").await;
                    }
                    continue;
                }
                let cmd = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let answer: &[u8] = match cmd.as_str() {
                    "EHLO" => b"250-sink\r\n250 PIPELINING\r\n",
                    "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
                    "DATA" => {
                        in_data = true;
                        b"354 go ahead\r\n"
                    }
                    "QUIT" => {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    }
                    _ => b"500 what\r\n",
                };
                let _ = w.write_all(answer).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_costs_no_nagle_stall() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(sink(listener));
    let dir = tempfile::tempdir().unwrap();
    let t = Transport::from_config(Some(&format!("smtp://127.0.0.1:{port}")), dir.path()).unwrap();
    let text = "Hei!\n\n".to_string() + &"Tämä on kutsu varmuuskopiointipalveluun.\n".repeat(40);
    let mut times = Vec::new();
    for i in 0..41 {
        let r = Rendered {
            subject: format!("Kutsu {i}"),
            text: text.clone(),
            html: None,
            attachment: None,
        };
        let msg = build_message("cc@example.com", "to@example.com", &r, &format!("m{i}")).unwrap();
        let started = Instant::now();
        t.send(&format!("m{i}"), msg).await.unwrap();
        // The first opens the connection; the rest reuse it.
        if i > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "per message on one loopback connection: median {:?}, slowest {:?}",
        median,
        times.last().unwrap()
    );
    assert!(
        median < Duration::from_millis(20),
        "a message costs {median:?}: the Nagle stall (40 ms) is back — is TCP_NODELAY set on the SMTP socket?"
    );
}
