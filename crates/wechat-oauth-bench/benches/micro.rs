//! Micro benchmarks (criterion): authorize URL building, token response parsing, and the
//! Mini Program decrypt + signature check. `wechat-oauth-bench all` runs these and puts
//! the node `crypto` figure for the same decrypt beside them.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wechat_oauth_bench::micro;

fn benches(c: &mut Criterion) {
    let client = match micro::client() {
        Ok(client) => client,
        Err(e) => panic!("building the benchmark client: {e}"),
    };
    c.bench_function("authorize_url", |b| {
        b.iter(|| micro::authorize_url(black_box(&client)))
    });
    c.bench_function("parse_token", |b| {
        b.iter(|| micro::parse_token(black_box(micro::TOKEN_RESPONSE)))
    });
    c.bench_function("mp_decrypt_verify", |b| b.iter(micro::decrypt_and_verify));
}

criterion_group!(micro_benches, benches);
criterion_main!(micro_benches);
