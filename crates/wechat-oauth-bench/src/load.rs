//! Load shapes shared by the Rust clients: N calls kept in flight for a duration (each
//! completion starts the next, as `node-peer.js bench` does), or N calls fired at once.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};

use crate::measure::{ClientReport, CpuTime, Latencies, peak_rss_kib};

/// What a load run observed, before it is turned into a [`ClientReport`].
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Successful calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// The first failure, as displayed.
    pub first_error: Option<String>,
    /// Per-call latencies.
    pub latencies: Latencies,
    /// CPU used by this process during the run.
    pub cpu: CpuTime,
    /// Wall-clock length of the run.
    pub elapsed: Duration,
}

impl LoadResult {
    fn record<E: Display>(&mut self, outcome: Result<(), E>, took: Duration) {
        self.latencies.record(took);
        match outcome {
            Ok(()) => self.calls += 1,
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }

    /// The report a client prints.
    pub fn into_report(mut self, client: &str, concurrency: usize) -> ClientReport {
        ClientReport {
            client: client.to_owned(),
            concurrency,
            seconds: self.elapsed.as_secs_f64(),
            calls: self.calls,
            errors: self.errors,
            first_error: self.first_error.take(),
            cpu_user_s: self.cpu.user,
            cpu_sys_s: self.cpu.system,
            peak_rss_kib: peak_rss_kib(),
            p50_ms: self.latencies.percentile_ms(0.50),
            p99_ms: self.latencies.percentile_ms(0.99),
        }
    }
}

/// Keeps `concurrency` calls in flight until `duration` has passed, then waits for the
/// stragglers. `call(slot, n)` makes the n-th call in `slot` (0..concurrency): a slot has
/// one call in flight at a time, so a caller that owns a slot's resource never races itself.
pub async fn keep_in_flight<F, Fut, E>(
    concurrency: usize,
    duration: Duration,
    call: F,
) -> LoadResult
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let deadline = Instant::now() + duration;
    keep_in_flight_while(concurrency, |_| Instant::now() < deadline, call).await
}

/// Keeps `concurrency` calls in flight until `total` calls have been started (each n in
/// `0..total` exactly once), then waits for the last ones.
pub async fn keep_in_flight_count<F, Fut, E>(
    concurrency: usize,
    total: usize,
    call: F,
) -> LoadResult
where
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    keep_in_flight_while(concurrency.min(total), |next| next < total, call).await
}

async fn keep_in_flight_while<M, F, Fut, E>(
    concurrency: usize,
    mut more: M,
    mut call: F,
) -> LoadResult
where
    M: FnMut(usize) -> bool,
    F: FnMut(usize, usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut result = LoadResult {
        latencies: Latencies::with_capacity(1 << 16),
        ..LoadResult::default()
    };
    let cpu_before = CpuTime::of_self().unwrap_or_default();
    let started = Instant::now();
    let timed = |slot: usize, fut: Fut| async move {
        let t = Instant::now();
        let outcome = fut.await;
        (slot, outcome, t.elapsed())
    };
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    for slot in 0..concurrency.max(1) {
        in_flight.push(timed(slot, call(slot, next)));
        next += 1;
    }
    while let Some((slot, outcome, took)) = in_flight.next().await {
        result.record(outcome, took);
        if more(next) {
            in_flight.push(timed(slot, call(slot, next)));
            next += 1;
        }
    }
    result.elapsed = started.elapsed();
    result.cpu = CpuTime::of_self().unwrap_or_default().since(cpu_before);
    result
}

/// Starts all `count` calls at once and waits for every one.
pub async fn fire_all<F, Fut, E>(count: usize, mut call: F) -> LoadResult
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut result = LoadResult {
        latencies: Latencies::with_capacity(count),
        ..LoadResult::default()
    };
    let cpu_before = CpuTime::of_self().unwrap_or_default();
    let started = Instant::now();
    let mut in_flight: FuturesUnordered<_> = (0..count)
        .map(|n| {
            let fut = call(n);
            async move {
                let t = Instant::now();
                let outcome = fut.await;
                (outcome, t.elapsed())
            }
        })
        .collect();
    while let Some((outcome, took)) = in_flight.next().await {
        result.record(outcome, took);
    }
    result.elapsed = started.elapsed();
    result.cpu = CpuTime::of_self().unwrap_or_default().since(cpu_before);
    result
}
