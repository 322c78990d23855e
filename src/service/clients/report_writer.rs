//! The group-commit writer of backup reports.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::batching::next_batch;
use crate::store::{self, StoreError};

/// Group commit for reports: many requests, one transaction, each request
/// answered only after the transaction holding its report committed.
#[derive(Clone, Debug)]
pub struct ReportSink {
    pub(super) tx: mpsc::Sender<(
        store::installations::NewReport,
        oneshot::Sender<std::result::Result<(), String>>,
    )>,
}

/// Reports written per transaction at most.
const REPORT_BATCH: usize = 512;

impl ReportSink {
    /// Starts the writer task; it drains and ends when `stop` is set.
    pub fn start(
        store: store::Store,
        mut stop: watch::Receiver<bool>,
    ) -> (ReportSink, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<(
            store::installations::NewReport,
            oneshot::Sender<std::result::Result<(), String>>,
        )>(4096);
        let task = tokio::spawn(async move {
            while let Some(batch) = next_batch(&mut rx, &mut stop, REPORT_BATCH).await {
                metrics::histogram!("cc_report_batch_size").record(batch.len() as f64);
                let (reports, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let started = std::time::Instant::now();
                let all = store::installations::store_report_batch(&store, &reports)
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
                        for (r, reply) in reports.into_iter().zip(replies) {
                            let one = async {
                                let mut t = store.begin().await?;
                                store::installations::insert_report(&mut t, &r).await?;
                                t.commit().await?;
                                Ok::<(), StoreError>(())
                            };
                            let _ = reply.send(one.await.map_err(|e| e.to_string()));
                        }
                    }
                }
            }
        });
        (ReportSink { tx }, task)
    }
}

/// Shared handle type for the report writer.
pub type Reports = Arc<ReportSink>;
