//! What the two group-commit writers share: taking the next batch from
//! their queue, and their lives — started with the services, stopped
//! explicitly (drain what was accepted, then stop) once the HTTP server
//! has answered its last request.

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Waits for one item, then takes what is already queued, up to `max`.
/// Once `stop` is set the queue is closed (new sends fail at once) and the
/// items accepted before are still given out; `None` when it is empty.
pub(super) async fn next_batch<T>(
    rx: &mut mpsc::Receiver<T>,
    stop: &mut watch::Receiver<bool>,
    max: usize,
) -> Option<Vec<T>> {
    let first = if rx.is_closed() {
        rx.recv().await?
    } else {
        tokio::select! {
            item = rx.recv() => item?,
            // Stop asked (or its sender gone): drain, then end.
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
                rx.close();
                rx.recv().await?
            }
        }
    };
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// The writers' tasks and the signal that stops them.
#[derive(Debug)]
pub struct Writers {
    stop: watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Writers {
    pub(crate) fn new() -> Writers {
        Writers {
            stop: watch::channel(false).0,
            tasks: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// What a writer watches to know it should drain and stop.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn track(&self, task: JoinHandle<()>) {
        match self.tasks.lock() {
            Ok(mut t) => t.push(task),
            Err(p) => p.into_inner().push(task),
        }
    }

    /// Drains both writers and waits until they have stopped. Call it
    /// after the HTTP server stopped: a request still waiting on a writer
    /// gets its answer, one that comes later is refused.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = match self.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}
