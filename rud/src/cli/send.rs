//! `rud send`: a file over an asynchronous stream, with a progress bar and the path's metrics
//! once the responder acknowledged everything.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::post::Target;
use rud::connection::StreamKind;
use rud::udp::ConnectOptions;

/// Octets per message: large enough that per-message work is negligible, small enough for
/// a smooth progress bar.
const CHUNK: usize = 256 * 1024;
/// The client's send buffer: `send` waits while this much is unacknowledged, so progress
/// tracks what the responder acknowledged to within this much.
const SEND_BUFFER: usize = 8 << 20;

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    target: Target,
    /// The service the stream goes to.
    #[arg(long, default_value = "sink")]
    service: String,
    /// The file to send.
    file: PathBuf,
}

pub async fn run(a: SendArgs) -> Result<ExitCode, CliError> {
    let data = std::fs::read(&a.file)
        .map_err(|e| CliError::Setup(format!("{}: {e}", a.file.display())))?;
    let service = a.service.clone();
    let opened = a
        .target
        .open(
            |mode, key| ConnectOptions {
                mode,
                responder_key: key,
                ..ConnectOptions::first_contact(&service, Vec::new()).kind(StreamKind::Asynchronous)
            },
            |c, _| c.endpoint.connection.max_send_buffer = SEND_BUFFER,
        )
        .await?;
    let conn = &opened.conn;
    let stream = conn.first_stream();
    let bar = ProgressBar::new(data.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut events = conn.events();
    let result: Result<(), CliError> = async {
        for chunk in data.chunks(CHUNK) {
            conn.send(stream, chunk.to_vec()).await?;
            bar.inc(chunk.len() as u64);
        }
        bar.set_message("waiting for the acknowledgement");
        conn.flush(stream).await?;
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    let took = start.elapsed();
    let metrics = conn.metrics().await.ok();
    let _ = tokio::time::timeout(opened.timeout, conn.close()).await;
    opened.endpoint.shutdown().await?;
    if let Err(e) = result {
        // Say why the connection ended, if it did.
        if let Some(ev) = events.as_mut() {
            while let Ok(Some(e)) =
                tokio::time::timeout(std::time::Duration::from_millis(10), ev.next()).await
            {
                tracing::debug!("event: {e:?}");
            }
        }
        return Err(e);
    }
    let secs = took.as_secs_f64().max(1e-9);
    println!(
        "sent {} octets to {} in {:.2} s ({:.2} MB/s), all acknowledged",
        data.len(),
        a.target.to,
        secs,
        data.len() as f64 / secs / 1e6
    );
    if let Some(m) = metrics {
        let p = &m.path;
        let loss = if p.datagrams_sent == 0 {
            0.0
        } else {
            100.0 * p.datagrams_lost as f64 / p.datagrams_sent as f64
        };
        println!(
            "rtt: min {:.3} ms, smoothed {:.3} ms, variance {:.3} ms",
            p.min_rtt.as_secs_f64() * 1e3,
            p.smoothed_rtt.as_secs_f64() * 1e3,
            p.rtt_variance.as_secs_f64() * 1e3
        );
        println!(
            "loss: {} of {} datagrams ({loss:.2} %), {} of {} packets resent",
            p.datagrams_lost, p.datagrams_sent, m.counters.packets_retransmitted, p.packets_sent
        );
    }
    Ok(ExitCode::SUCCESS)
}
