//! Shared by the app's benchmarks: a migrated throwaway database, and the median of rounds.

use sqlx::PgPool;

/// A fresh migrated database: (schema-owner pool, runtime-role URL).
pub async fn migrated_database() -> (PgPool, String) {
    let db = pg_harness::fresh_database();
    let admin = PgPool::connect(&db.admin_url).await.unwrap();
    tenantry::server::db::migrate(&admin, Some(pg_harness::APP_ROLE)).await.unwrap();
    (admin, db.app_url)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
