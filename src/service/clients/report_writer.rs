//! The group-commit writer of backup reports.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::Instrument;

use super::batching::next_batch;
use crate::store::{self, StoreError, webhooks::NewEvent};

/// One report for the writer, with its webhook event when anyone
/// subscribes to it (queued in the same transaction), and where to answer.
pub(super) type ReportJob = (
    store::installations::NewReport,
    Option<NewEvent>,
    oneshot::Sender<std::result::Result<(), String>>,
);

/// Group commit for reports: many requests, one transaction, each request
/// answered only after the transaction holding its report committed.
#[derive(Clone, Debug)]
pub struct ReportSink {
    pub(super) tx: mpsc::Sender<ReportJob>,
}

/// Reports written per transaction at most.
const REPORT_BATCH: usize = 512;

impl ReportSink {
    /// Starts the writer task; it drains and ends when `stop` is set.
    /// `webhook_wakeup` is told when a batch queued webhook events.
    pub fn start(
        store: store::Store,
        mut stop: watch::Receiver<bool>,
        webhook_wakeup: Arc<Notify>,
    ) -> (ReportSink, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<ReportJob>(4096);
        let task = tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut rx, &mut stop, REPORT_BATCH).await {
                metrics::histogram!("cc_report_batch_size").record(batch.len() as f64);
                let mut reports = Vec::with_capacity(batch.len());
                let mut events = Vec::new();
                let mut replies = Vec::with_capacity(batch.len());
                for (r, e, reply) in batch {
                    reports.push(r);
                    events.push(e);
                    replies.push(reply);
                }
                let all_events: Vec<NewEvent> = events.iter().flatten().cloned().collect();
                let started = std::time::Instant::now();
                let all = store::installations::store_report_batch(&store, &reports, &all_events)
                    .instrument(tracing::debug_span!("report_batch", size = reports.len()))
                    .await;
                metrics::histogram!("cc_report_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                match all {
                    Ok(()) => {
                        for reply in replies {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    // One bad report (say, its installation was deleted in
                    // between) must not sink the others: one by one.
                    Err(_) => {
                        for ((r, e), reply) in reports.into_iter().zip(events).zip(replies) {
                            let one = async {
                                let mut t = store.begin().await?;
                                store::installations::insert_report(&mut t, &r).await?;
                                if let Some(e) = &e {
                                    store::webhooks::emit_many(&mut t, std::slice::from_ref(e))
                                        .await?;
                                }
                                t.commit().await?;
                                Ok::<(), StoreError>(())
                            };
                            let _ = reply.send(one.await.map_err(|e| e.to_string()));
                        }
                    }
                }
                if !all_events.is_empty() {
                    webhook_wakeup.notify_one();
                }
            }
        });
        (ReportSink { tx }, task)
    }
}

/// Shared handle type for the report writer.
pub type Reports = Arc<ReportSink>;
