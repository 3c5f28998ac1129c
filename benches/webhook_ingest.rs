//! Signed-event ingestion throughput: what `POST /api/webhooks/clerk` does per delivery (svix
//! verification of the raw body, then the idempotent mirror write), against the same write with
//! verification skipped, and against duplicate deliveries — all measured in one run, in rounds
//! interleaved so that machine noise hits every variant alike. Read the ratios.
//!
//! Run: `scripts/bench` (or `cargo bench --features ssr --bench webhook_ingest`).

mod common;

use clerk::WebhookVerifier;
use common::{median, migrated_database};
use http::HeaderMap;
use serde_json::json;
use sqlx::PgPool;
use std::time::Instant;
use tenantry::server::mirror;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const PER_ROUND: usize = 300;
const ROUNDS: usize = 3;

fn event(i: usize, round: usize, variant: &str) -> (String, Vec<u8>) {
    let id = format!("user_{variant}_{round}_{i}");
    let body = json!({"type": "user.created", "object": "event", "data": {
        "id": id, "first_name": "Bench", "last_name": format!("{i}"), "primary_email_address_id": "idn_1",
        "email_addresses": [{"id": "idn_1", "email_address": format!("{id}@bench.test")}], "updated_at": 1
    }});
    (format!("msg_{variant}_{round}_{i}"), serde_json::to_vec(&body).unwrap())
}

fn signed_headers(v: &WebhookVerifier, msg_id: &str, body: &[u8]) -> HeaderMap {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut h = HeaderMap::new();
    h.insert("svix-id", msg_id.parse().unwrap());
    h.insert("svix-timestamp", ts.to_string().parse().unwrap());
    h.insert("svix-signature", v.sign(msg_id, ts, body).unwrap().parse().unwrap());
    h
}

async fn run(pool: &PgPool, v: &WebhookVerifier, batch: &[(String, Vec<u8>, HeaderMap)], verify: bool) -> f64 {
    let start = Instant::now();
    for (id, body, headers) in batch {
        let event =
            if verify { v.verify(body, headers).expect("signed") } else { serde_json::from_slice(body).unwrap() };
        mirror::apply_event(pool, id, &event).await.expect("applied");
    }
    batch.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (_admin, app_url) = migrated_database().await;
        let pool = PgPool::connect(&app_url).await.unwrap();
        let v = WebhookVerifier::new(SECRET).unwrap();
        let (mut verified, mut skipped, mut duplicates) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let batch = |variant: &str| -> Vec<(String, Vec<u8>, HeaderMap)> {
                (0..PER_ROUND)
                    .map(|i| event(i, round, variant))
                    .map(|(id, body)| {
                        let h = signed_headers(&v, &id, &body);
                        (id, body, h)
                    })
                    .collect()
            };
            let first = batch("verified");
            verified.push(run(&pool, &v, &first, true).await);
            skipped.push(run(&pool, &v, &batch("skipped"), false).await);
            duplicates.push(run(&pool, &v, &first, true).await); // the same deliveries again
        }
        let (a, b, c) = (median(verified), median(skipped), median(duplicates));
        println!("webhook ingestion, events/s (median of {ROUNDS} rounds of {PER_ROUND}):");
        println!("  verified first deliveries      {a:>9.0}");
        println!(
            "  verification skipped           {b:>9.0}  (verification costs {:+.1} % throughput)",
            (a / b - 1.0) * 100.0
        );
        println!("  verified duplicate deliveries  {c:>9.0}  ({:.2}x first deliveries)", c / a);
        println!(
            "{}",
            if c > a {
                "duplicates cost less than first deliveries: yes"
            } else {
                "duplicates cost less than first deliveries: NO"
            }
        );
    });
}
