//! Webhook delivery as Svix does it: each event signed (`svix-id`, `svix-timestamp`,
//! `svix-signature`), POSTed to every endpoint, retried with backoff on failure (3xx counts as
//! failure). Test switches deliver each event twice, or hold a batch and deliver it newest first.

use clerk::WebhookVerifier;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// Backoff between attempts (Svix spreads retries over days; a local tool keeps it short).
const RETRY_DELAYS: [u64; 6] = [0, 500, 2_000, 5_000, 15_000, 60_000];

/// Every event type the emulator delivers; `tests/webhook_contract.rs` validates each one against
/// Clerk's webhooks document (`webhooks-2025-04-15.yml`), so a new one must be added here.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.deleted",
    "organization.created",
    "organization.updated",
    "organization.deleted",
    "organizationMembership.created",
    "organizationMembership.updated",
    "organizationMembership.deleted",
    "organizationInvitation.created",
    "organizationInvitation.accepted",
    "organizationInvitation.revoked",
];

/// A queued message: svix id and JSON body.
type Message = (String, Vec<u8>);

pub struct Dispatcher {
    endpoints: Vec<String>,
    signer: WebhookVerifier,
    duplicate: bool,
    reorder: bool,
    tx: mpsc::UnboundedSender<Message>,
    /// Taken by the delivery loop when it starts.
    rx: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
}

impl Dispatcher {
    pub fn new(endpoints: Vec<String>, secret: &str, duplicate: bool, reorder: bool) -> Result<Self, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Self { endpoints, signer: WebhookVerifier::new(secret)?, duplicate, reorder, tx, rx: Mutex::new(Some(rx)) })
    }

    /// Queue one Clerk event (`user.created`, …) with its data object.
    pub fn emit(&self, event_type: &str, data: Value) {
        debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type} is missing from EVENT_TYPES");
        if self.endpoints.is_empty() {
            return;
        }
        let now = crate::state::now_ms();
        let body = json!({"type": event_type, "object": "event", "data": data, "timestamp": now, "instance_id": "ins_emulator",
                          "event_attributes": {"http_request": {"client_ip": "127.0.0.1", "user_agent": "clerk-emulator"}}});
        let _ = self.tx.send((crate::state::new_id("msg"), serde_json::to_vec(&body).unwrap_or_default()));
    }

    /// Spawn the delivery loop (once).
    pub fn start(&self) {
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let endpoints = self.endpoints.clone();
        let signer = self.signer.clone();
        let (duplicate, reorder) = (self.duplicate, self.reorder);
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()
                .expect("client");
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                if reorder {
                    // Collect what follows within a second of the last event (at most 3 s, so
                    // a slow machine still batches two quick sign-ups), then deliver newest first.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                    while let Ok(Some(more)) = tokio::time::timeout_at(
                        deadline.min(tokio::time::Instant::now() + Duration::from_secs(1)),
                        rx.recv(),
                    )
                    .await
                    {
                        batch.push(more);
                    }
                    batch.reverse();
                }
                for (msg_id, body) in batch {
                    for url in &endpoints {
                        // Each copy is its own concurrent delivery, as with Svix.
                        if duplicate {
                            tokio::spawn(deliver(
                                http.clone(),
                                signer.clone(),
                                url.clone(),
                                msg_id.clone(),
                                body.clone(),
                            ));
                        }
                        let first = deliver(http.clone(), signer.clone(), url.clone(), msg_id.clone(), body.clone());
                        if reorder {
                            // In the order chosen: this message's first copy is answered before
                            // the next message's goes out.
                            first.await;
                        } else {
                            tokio::spawn(first);
                        }
                    }
                }
            }
        });
    }
}

async fn deliver(http: reqwest::Client, signer: WebhookVerifier, url: String, msg_id: String, body: Vec<u8>) {
    for (attempt, delay) in RETRY_DELAYS.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        let ts = crate::state::now_ms() / 1000;
        let Ok(sig) = signer.sign(&msg_id, ts, &body) else { return };
        let res = http
            .post(&url)
            .header("content-type", "application/json")
            .header("svix-id", &msg_id)
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", sig)
            .body(body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(msg_id, url, "webhook delivered");
                return;
            }
            Ok(r) => tracing::warn!(
                msg_id,
                url,
                status = r.status().as_u16(),
                attempt,
                "webhook delivery failed; will retry"
            ),
            Err(e) => tracing::warn!(msg_id, url, error = %e, attempt, "webhook delivery failed; will retry"),
        }
    }
    tracing::error!(msg_id, url, "webhook delivery gave up");
}
