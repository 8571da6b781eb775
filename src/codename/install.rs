//! What an install records about its codenames, checked before a server starts: the
//! fingerprint of its pepper and the argon2 cost of each source's codename.
//!
//! Neither the pepper nor the cost is in any codename's stored form, so a wrong pepper or a
//! changed cost would fail every login without an error anywhere. Instead: `init` (or the
//! first start of an install made before fingerprints) records the pepper's fingerprint, and
//! `serve` refuses to start with another pepper; each source keeps the cost it was derived
//! with, and a login tries each cost in use (the configured one first, at most
//! [`MAX_COSTS`]), so that raising the cost applies to new sources only.

use subtle::ConstantTimeEq;

use super::{Cost, Deriver, LOGIN_QUEUE_PER_PERMIT, MAX_COSTS};
use crate::config::{Config, Secret};
use crate::store::MetaStore;

/// Why a server cannot start with this configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata store failed.
    #[error("cannot open the stores: {0}")]
    Store(#[from] crate::store::Error),
    /// The configured pepper is not the one the install was made with.
    #[error(
        "secrets.pepper is not the pepper this install was made with (its fingerprint in \
         meta.sqlite differs), so no codename would work: put back the original sanduq.toml \
         or its pepper (docs/operator.md, \"The pepper\")"
    )]
    WrongPepper,
    /// More distinct costs are in use than a login may try.
    #[error(
        "sources' codenames use {0} argon2 costs with the configured one ({1}), more than a \
         login tries ({MAX_COSTS}): set [codename] memory_kib, time and lanes back to a cost \
         in use (docs/operator.md, \"Changing the argon2 cost\")"
    )]
    TooManyCosts(usize, String),
}

/// A one-way fingerprint of a pepper: HKDF-SHA-256's extract step (HMAC-SHA-256) with its
/// own label as salt, so that it says nothing of the pepper nor of any derivation made with
/// it (those use the pepper as argon2's salt, never through HKDF).
pub fn pepper_fingerprint(pepper: &Secret) -> [u8; 32] {
    let (prk, _) =
        hkdf::Hkdf::<sha2::Sha256>::extract(Some(b"sanduq v1 pepper fingerprint"), pepper.expose());
    prk.into()
}

/// Records the pepper's fingerprint if the install has none yet (made by `init`, or before
/// fingerprints existed), and fails if the one on record is another pepper's.
pub async fn check_pepper(meta: &dyn MetaStore, pepper: &Secret) -> Result<(), Error> {
    let mine = pepper_fingerprint(pepper);
    let recorded = meta.pepper_fingerprint(&mine).await?;
    if bool::from(recorded.ct_eq(&mine)) {
        Ok(())
    } else {
        Err(Error::WrongPepper)
    }
}

/// Checks the install against `config` and makes the server's deriver: the pepper must be
/// the install's; sources recorded before costs were get the configured cost (what every
/// derivation used then); logins try every cost in use.
pub async fn deriver(meta: &dyn MetaStore, config: &Config) -> Result<Deriver, Error> {
    check_pepper(meta, &config.pepper).await?;
    let assumed = meta.assume_cost(config.codename_cost).await?;
    if assumed > 0 {
        tracing::info!(
            sources = assumed,
            "recorded the configured argon2 cost for sources from before costs were recorded"
        );
    }
    let mut costs = vec![config.codename_cost];
    for c in meta.source_costs().await? {
        if !costs.contains(&c) {
            costs.push(c);
        }
    }
    if costs.len() > MAX_COSTS {
        let list: Vec<String> = costs.iter().map(describe).collect();
        return Err(Error::TooManyCosts(costs.len(), list.join("; ")));
    }
    if costs.len() > 1 {
        tracing::info!(
            costs = costs.len(),
            "sources use more than one argon2 cost: each login derives once per cost"
        );
    }
    let permits = config.codename_concurrency.max(1);
    let queue = config
        .codename_login_queue
        .unwrap_or(permits * LOGIN_QUEUE_PER_PERMIT / costs.len());
    Ok(
        Deriver::new(config.pepper.clone(), config.codename_cost, permits).with_logins(
            &costs,
            permits,
            queue.max(1),
        ),
    )
}

/// A cost as the configuration spells it.
fn describe(c: &Cost) -> String {
    format!(
        "memory_kib = {}, time = {}, lanes = {}",
        c.memory_kib, c.time, c.lanes
    )
}
