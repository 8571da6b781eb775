//! `[codename]` checked: the argon2id cost of a codename's derivation (with a floor that
//! only a test suite may go below), and how many derivations and waiting logins one node
//! allows.

use super::{Invalid, RawCodename};
use crate::codename::{Cost, MIN_MEMORY_KIB};

/// The checked `[codename]`.
pub(super) struct Codename {
    pub(super) cost: Cost,
    pub(super) concurrency: usize,
    pub(super) login_queue: Option<usize>,
}

/// Checks `[codename]`.
pub(super) fn validate(raw: &RawCodename) -> Result<Codename, Invalid> {
    let invalid = |key: &str, message: String| Err((format!("codename.{key}"), message));
    let d = Cost::default();
    let cost = Cost {
        memory_kib: raw.memory_kib.unwrap_or(d.memory_kib),
        time: raw.time.unwrap_or(d.time),
        lanes: raw.lanes.unwrap_or(d.lanes),
    };
    if cost.memory_kib < MIN_MEMORY_KIB && raw.weak_cost_for_tests != Some(true) {
        return invalid(
            "memory_kib",
            format!(
                "must be at least {MIN_MEMORY_KIB} (19 MiB); lower values are for test suites only"
            ),
        );
    }
    if cost.memory_kib > 4 * 1024 * 1024 {
        return invalid("memory_kib", "must be at most 4194304 (4 GiB)".into());
    }
    if !(1..=16).contains(&cost.time) {
        return invalid("time", "must be between 1 and 16".into());
    }
    if !(1..=8).contains(&cost.lanes) || cost.memory_kib < 8 * cost.lanes {
        return invalid("lanes", "must be between 1 and 8".into());
    }
    let concurrency = raw.max_concurrent.unwrap_or(2);
    if !(1..=64).contains(&concurrency) {
        return invalid("max_concurrent", "must be between 1 and 64".into());
    }
    if raw.login_queue.is_some_and(|q| !(1..=4096).contains(&q)) {
        return invalid("login_queue", "must be between 1 and 4096".into());
    }
    Ok(Codename {
        cost,
        concurrency,
        login_queue: raw.login_queue,
    })
}
