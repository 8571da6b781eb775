//! Runs a server's derivations: on blocking threads, at most `max_concurrent` at once (a
//! login flood queues, then is refused, instead of exhausting memory), new sources first (see
//! [`super::gate`]).
//!
//! Argon2 buffers are reused while derivations follow one another (no new 64 MiB per login
//! in a flood), wiped after each use, and given back to the operating system as soon as no
//! derivation is running or waiting, so an idle server does not keep
//! `max_concurrent × memory_kib` of RSS. Every buffer has the size of the largest cost in
//! use, so a node's argon2 memory stays under `max_concurrent ×` that cost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::Block;
use zeroize::Zeroize;

use super::gate::{Gate, Priority};
use super::{derive_with_memory, Codename, Cost, Derived, Error};

/// Most argon2 costs a login tries: each one in use costs every login one more derivation.
pub const MAX_COSTS: usize = 3;

/// Logins allowed to wait, per derivation that may run at once, when the configuration
/// does not say: at ~0.25 s a derivation, a queued login waits about 2 s.
pub const LOGIN_QUEUE_PER_PERMIT: usize = 8;

/// Runs derivations for a server. See the module's documentation.
pub struct Deriver {
    pepper: Arc<crate::config::Secret>,
    /// The cost of new sources (the configured one).
    cost: Cost,
    /// Every cost a login tries, the configured one first.
    login_costs: Vec<Cost>,
    /// Blocks of every buffer: the largest cost in use.
    buffer_kib: u32,
    gate: Arc<Gate>,
    shared: Arc<Shared>,
}

/// What the deriver and its blocking closures share.
#[derive(Default)]
struct Shared {
    /// Wiped buffers waiting for the next derivation.
    pool: Mutex<Vec<Buffer>>,
    /// Requests deriving or waiting for a permit.
    active: AtomicUsize,
    counts: Arc<BufferCounts>,
}

impl Shared {
    /// Keeps a wiped buffer for the next derivation, or frees it when no request is deriving
    /// or waiting any more (checked under the pool's lock, so the last request's
    /// [`Active`] cannot miss it).
    fn give_back(&self, buffer: Buffer) {
        if let Ok(mut pool) = self.pool.lock() {
            if self.active.load(Ordering::Acquire) > 0 {
                pool.push(buffer);
                return;
            }
        }
        drop(buffer);
    }
}

/// How many argon2 buffers exist now, and the most that ever existed at once.
#[derive(Default)]
struct BufferCounts {
    live: AtomicUsize,
    peak: AtomicUsize,
}

/// One argon2 buffer, counted while it exists.
struct Buffer {
    blocks: Vec<Block>,
    counts: Arc<BufferCounts>,
}

/// Address space reserved for every argon2 buffer, whatever its cost: glibc's malloc serves
/// requests below its dynamic mmap threshold (at most 32 MiB) from per-thread arenas that
/// keep freed memory, so buffers of a smaller cost were never given back (measured at
/// `memory_kib = 19456`: 600 logins left the server at 280 MiB of RSS). A request of this
/// size is above that threshold, so glibc maps it on its own and unmaps it when freed (short
/// of finding a free chunk that large in an arena, which the server's other allocations do
/// not leave). Only the cost's blocks are ever written, so only they become resident.
const RESERVED_KIB: usize = 33 * 1024;

impl Buffer {
    fn new(kib: u32, counts: &Arc<BufferCounts>) -> Buffer {
        let now = counts.live.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak.fetch_max(now, Ordering::Relaxed);
        let mut blocks = Vec::with_capacity((kib as usize).max(RESERVED_KIB));
        blocks.resize(kib as usize, Block::default());
        Buffer {
            blocks,
            counts: counts.clone(),
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.counts.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Marks a request as deriving or waiting; the last one to leave empties the pool.
struct Active<'a>(&'a Shared);

impl<'a> Active<'a> {
    fn enter(shared: &'a Shared) -> Active<'a> {
        shared.active.fetch_add(1, Ordering::AcqRel);
        Active(shared)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let idle = self.0.pool.lock().map(|mut pool| {
            let last = self.0.active.fetch_sub(1, Ordering::AcqRel) == 1;
            // Nobody else is deriving: give the (already wiped) buffers back.
            if last {
                std::mem::take(&mut *pool)
            } else {
                Vec::new()
            }
        });
        drop(idle);
    }
}

impl Deriver {
    /// A deriver for an install's pepper and cost, whose logins try that cost only, with
    /// [`LOGIN_QUEUE_PER_PERMIT`] logins per permit allowed to wait.
    pub fn new(pepper: crate::config::Secret, cost: Cost, max_concurrent: usize) -> Deriver {
        let permits = max_concurrent.max(1);
        Deriver {
            pepper: Arc::new(pepper),
            cost,
            login_costs: vec![cost],
            buffer_kib: cost.memory_kib,
            gate: Arc::new(Gate::new(permits, permits * LOGIN_QUEUE_PER_PERMIT)),
            shared: Default::default(),
        }
    }

    /// Logins also try `older` costs (those existing sources were derived with), in that
    /// order after the configured one, and at most `queue` of them wait for a permit.
    pub fn with_logins(mut self, older: &[Cost], max_concurrent: usize, queue: usize) -> Self {
        for c in older {
            if !self.login_costs.contains(c) {
                self.login_costs.push(*c);
            }
        }
        self.buffer_kib = self
            .login_costs
            .iter()
            .map(|c| c.memory_kib)
            .max()
            .unwrap_or(0);
        self.gate = Arc::new(Gate::new(max_concurrent.max(1), queue));
        self
    }

    /// The costs a login tries, in order.
    pub fn login_costs(&self) -> &[Cost] {
        &self.login_costs
    }

    /// A new source's codename, at the configured cost, ahead of any login.
    pub async fn derive_new(&self, codename: Codename) -> Result<Box<Derived>, Error> {
        self.derive(Arc::new(codename), self.cost, Priority::NewSource)
            .await
    }

    /// What `codename` derives at every cost a login tries, in that order. Every cost is
    /// always derived, so that a known and an unknown codename cost the same work.
    /// [`Error::Busy`] at once if too many logins wait already.
    pub async fn derive_login(&self, codename: Codename) -> Result<Vec<Box<Derived>>, Error> {
        let codename = Arc::new(codename);
        let mut out = Vec::with_capacity(self.login_costs.len());
        for (i, cost) in self.login_costs.iter().enumerate() {
            let priority = if i == 0 {
                Priority::Login
            } else {
                Priority::LoginContinued
            };
            out.push(self.derive(codename.clone(), *cost, priority).await?);
        }
        Ok(out)
    }

    async fn derive(
        &self,
        codename: Arc<Codename>,
        cost: Cost,
        priority: Priority,
    ) -> Result<Box<Derived>, Error> {
        let _active = Active::enter(&self.shared);
        // The permit goes into the blocking closure with the buffer, and is released only
        // once the buffer is wiped and pooled or freed: if this future is dropped (the client
        // hung up), the derivation still runs to its end and still counts against the cap,
        // or hang-ups could start any number of 64 MiB derivations.
        let permit = self.gate.acquire(priority).await?;
        let reused = self.shared.pool.lock().ok().and_then(|mut p| p.pop());
        let mut memory = match reused {
            Some(m) => m,
            None => Buffer::new(self.buffer_kib, &self.shared.counts),
        };
        let pepper = self.pepper.clone();
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let d = derive_boxed(&codename, pepper.expose(), cost, &mut memory.blocks);
            // Wipe in place: `Vec::zeroize` would also empty the buffer we keep.
            memory.blocks.iter_mut().for_each(Zeroize::zeroize);
            shared.give_back(memory);
            drop(permit);
            crate::wipe::scrub_stack();
            d
        })
        .await
        .map_err(|e| Error::Params(e.to_string()))?
    }

    /// How many argon2 buffers exist now (0 when no derivation runs or waits).
    pub fn buffers_live(&self) -> usize {
        self.shared.counts.live.load(Ordering::Relaxed)
    }

    /// The most argon2 buffers that ever existed at once (never more than the concurrency cap).
    pub fn buffers_peak(&self) -> usize {
        self.shared.counts.peak.load(Ordering::Relaxed)
    }
}

/// Derives on the heap: whatever the derivation leaves on the stack, the derived value
/// included, lies in this call's frame or below it, which the caller then scrubs. Not inlined,
/// or its frame would be the caller's.
#[inline(never)]
fn derive_boxed(
    codename: &Codename,
    pepper: &[u8],
    cost: Cost,
    blocks: &mut [argon2::Block],
) -> Result<Box<Derived>, Error> {
    match blocks.get_mut(..cost.memory_kib as usize) {
        Some(b) => derive_with_memory(codename, pepper, cost, b).map(Box::new),
        None => Err(Error::Params("argon2 buffer too small".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::derive;
    use super::*;

    const C: &str = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";

    fn cheap(memory_kib: u32) -> Cost {
        Cost {
            memory_kib,
            time: 1,
            lanes: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_login_derives_at_every_cost_in_use_and_new_sources_at_the_configured_one() {
        let pepper = [7u8; 32];
        let (new, old) = (cheap(128), cheap(64));
        let d = Deriver::new(crate::config::Secret::new(pepper.to_vec()), new, 2).with_logins(
            &[old, new],
            2,
            4,
        );
        assert_eq!(d.login_costs(), [new, old]);
        let c = || Codename::parse(C).unwrap();
        let want = |cost| derive(&c(), &pepper, cost).unwrap().login_hash();
        let login: Vec<_> = d.derive_login(c()).await.unwrap();
        let got: Vec<_> = login.iter().map(|x| (x.cost, x.login_hash())).collect();
        assert_eq!(got, [(new, want(new)), (old, want(old))]);
        let fresh = d.derive_new(c()).await.unwrap();
        assert_eq!((fresh.cost, fresh.login_hash()), (new, want(new)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_deriver_caps_concurrency_and_gives_memory_back_when_idle() {
        let cost = Cost {
            memory_kib: 256,
            time: 1,
            lanes: 1,
        };
        let pepper = [9u8; 32];
        let d = std::sync::Arc::new(Deriver::new(
            crate::config::Secret::new(pepper.to_vec()),
            cost,
            2,
        ));
        let c = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";
        let want = derive(&Codename::parse(c).unwrap(), &pepper, cost)
            .unwrap()
            .login_hash();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let d = d.clone();
                tokio::spawn(async move {
                    d.derive_new(Codename::parse(c).unwrap())
                        .await
                        .unwrap()
                        .login_hash()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(
                t.await.unwrap(),
                want,
                "reused memory gives the same answer"
            );
        }
        assert!(
            d.buffers_peak() <= 2,
            "{} buffers at once for a cap of 2",
            d.buffers_peak()
        );
        assert!(d.buffers_peak() >= 1);
        assert_eq!(
            d.buffers_live(),
            0,
            "an idle deriver gives its buffers back"
        );
    }

    /// A request that goes away mid-derivation (a client hanging up on its login) must not
    /// free its place while its derivation still runs: hang-ups would otherwise start any
    /// number of derivations, each with its own buffer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_derivations_still_count_against_the_cap() {
        let cost = Cost {
            memory_kib: 16 * 1024,
            time: 3,
            lanes: 1,
        };
        let d = std::sync::Arc::new(Deriver::new(
            crate::config::Secret::new(vec![9u8; 32]),
            cost,
            2,
        ));
        let c = "abacus zoom drop-down yo-yo t-shirt felt-tip abdomen";
        for _ in 0..12 {
            let d2 = d.clone();
            let task =
                tokio::spawn(async move { d2.derive_login(Codename::parse(c).unwrap()).await });
            // Long enough to start deriving, far shorter than a derivation.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            task.abort();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while d.buffers_live() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            d.buffers_peak() <= 2,
            "{} buffers at once after hang-ups, for a cap of 2",
            d.buffers_peak()
        );
        assert!(d.buffers_peak() >= 1, "some derivation started");
        assert_eq!(d.buffers_live(), 0, "every abandoned buffer is given back");
    }
}
