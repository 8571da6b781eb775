//! The deriver's permits: at most `max_concurrent` argon2 derivations at once, given out by
//! priority, so that a flood of logins, which needs no codename, cannot delay new sources.
//!
//! A new source's derivation goes first: it waits at most for a running derivation to end,
//! never behind waiting logins. Logins wait in a bounded FIFO queue; past it they are refused
//! at once ([`super::Error::Busy`]) instead of waiting a minute behind an attacker's requests.
//! A login's later derivations (one per argon2 cost in use) go before new logins, so that a
//! login once admitted ends. So that a flood of new submissions cannot starve logins either,
//! when new sources hold all permits but one and logins wait, that one goes to a login.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

/// Who asks for a permit, in the order permits are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Priority {
    /// A new source's codename.
    NewSource,
    /// A login's second or later derivation (another cost in use).
    LoginContinued,
    /// A login's first derivation: the bounded queue.
    Login,
}

/// A place in the queue: priority first, then arrival.
type Ticket = (Priority, u64);

/// Counts and the queue, under one lock.
struct State {
    free: usize,
    /// Permits new sources hold now.
    held_by_new: usize,
    next: u64,
    waiting: BTreeSet<Ticket>,
    /// Waiting tickets of [`Priority::Login`].
    logins_waiting: usize,
}

/// Permits for derivations, given out by priority.
pub(super) struct Gate {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    /// Most permits new sources may hold while logins wait.
    new_cap: usize,
    /// Most logins waiting for their first derivation.
    login_queue: usize,
}

/// The right to run one derivation; given back when dropped.
pub(super) struct Permit {
    gate: Arc<Gate>,
    priority: Priority,
}

impl Gate {
    /// `permits` derivations at once; at most `login_queue` logins waiting.
    pub(super) fn new(permits: usize, login_queue: usize) -> Gate {
        let permits = permits.max(1);
        Gate {
            state: Mutex::new(State {
                free: permits,
                held_by_new: 0,
                next: 0,
                waiting: BTreeSet::new(),
                logins_waiting: 0,
            }),
            changed: tokio::sync::Notify::new(),
            new_cap: (permits - 1).max(1),
            login_queue,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under every operation: a panic elsewhere cannot leave
        // it half-changed, so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ticket whose turn it is.
    fn head(&self, s: &State) -> Option<Ticket> {
        let new = s.waiting.first().filter(|t| t.0 == Priority::NewSource);
        let login = s
            .waiting
            .range((Priority::LoginContinued, 0)..)
            .next()
            .copied();
        match (new, login) {
            (Some(_), Some(l)) if s.held_by_new >= self.new_cap => Some(l),
            (Some(n), _) => Some(*n),
            (None, l) => l,
        }
    }

    /// Takes a permit for `ticket` if it is its turn and one is free.
    fn try_take(&self, s: &mut State, ticket: Ticket) -> bool {
        if s.free == 0 || self.head(s) != Some(ticket) {
            return false;
        }
        s.waiting.remove(&ticket);
        if ticket.0 == Priority::Login {
            s.logins_waiting -= 1;
        }
        if ticket.0 == Priority::NewSource {
            s.held_by_new += 1;
        }
        s.free -= 1;
        true
    }

    /// Waits for a permit; a [`Priority::Login`] is refused at once when the queue is full.
    pub(super) async fn acquire(
        self: &Arc<Self>,
        priority: Priority,
    ) -> Result<Permit, super::Error> {
        let ticket = {
            let mut s = self.lock();
            let ticket = (priority, s.next);
            s.next += 1;
            s.waiting.insert(ticket);
            if priority == Priority::Login {
                s.logins_waiting += 1;
            }
            if self.try_take(&mut s, ticket) {
                return Ok(self.permit(priority));
            }
            if priority == Priority::Login && s.logins_waiting > self.login_queue {
                s.waiting.remove(&ticket);
                s.logins_waiting -= 1;
                return Err(super::Error::Busy);
            }
            ticket
        };
        // Leaves the queue if this future is dropped before its turn (the client hung up).
        let mut place = Place {
            gate: self,
            ticket,
            taken: false,
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.try_take(&mut self.lock(), ticket) {
                place.taken = true;
                // Another permit may still be free for the next in line.
                self.changed.notify_waiters();
                return Ok(self.permit(priority));
            }
            changed.await;
        }
    }

    fn permit(self: &Arc<Self>, priority: Priority) -> Permit {
        Permit {
            gate: self.clone(),
            priority,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.gate.lock();
            s.free += 1;
            if self.priority == Priority::NewSource {
                s.held_by_new -= 1;
            }
        }
        self.gate.changed.notify_waiters();
    }
}

/// A ticket in the queue, removed if its request goes away before its turn.
struct Place<'a> {
    gate: &'a Gate,
    ticket: Ticket,
    taken: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        {
            let mut s = self.gate.lock();
            if s.waiting.remove(&self.ticket) && self.ticket.0 == Priority::Login {
                s.logins_waiting -= 1;
            }
        }
        // The head may have changed.
        self.gate.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts a request for a permit and lets it reach the queue.
    async fn queued(
        gate: &Arc<Gate>,
        p: Priority,
        done: &Arc<Mutex<Vec<&'static str>>>,
        name: &'static str,
    ) -> tokio::task::JoinHandle<Result<(), super::super::Error>> {
        let (gate, done) = (gate.clone(), done.clone());
        let task = tokio::spawn(async move {
            let permit = gate.acquire(p).await?;
            done.lock().unwrap().push(name);
            drop(permit);
            Ok(())
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        task
    }

    #[tokio::test]
    async fn new_sources_go_before_waiting_logins_and_a_full_queue_refuses_at_once() {
        let gate = Arc::new(Gate::new(1, 2));
        let done = Arc::new(Mutex::new(Vec::new()));
        let running = gate.acquire(Priority::Login).await.unwrap();
        let l1 = queued(&gate, Priority::Login, &done, "login 1").await;
        let l2 = queued(&gate, Priority::Login, &done, "login 2").await;
        // The queue holds two logins: a third is refused without waiting.
        assert!(matches!(
            gate.acquire(Priority::Login).await,
            Err(super::super::Error::Busy)
        ));
        let n = queued(&gate, Priority::NewSource, &done, "new source").await;
        let c = queued(&gate, Priority::LoginContinued, &done, "continued").await;
        drop(running);
        for t in [l1, l2, n, c] {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            *done.lock().unwrap(),
            ["new source", "continued", "login 1", "login 2"]
        );
    }

    #[tokio::test]
    async fn logins_keep_one_permit_when_new_sources_hold_the_others() {
        let gate = Arc::new(Gate::new(2, 8));
        let done = Arc::new(Mutex::new(Vec::new()));
        let a = gate.acquire(Priority::NewSource).await.unwrap();
        let b = gate.acquire(Priority::Login).await.unwrap();
        let l = queued(&gate, Priority::Login, &done, "login").await;
        let n = queued(&gate, Priority::NewSource, &done, "new source").await;
        // A new source holds one permit of two: the login's turn comes with the next.
        drop(b);
        l.await.unwrap().unwrap();
        drop(a);
        n.await.unwrap().unwrap();
        assert_eq!(*done.lock().unwrap(), ["login", "new source"]);
    }

    #[tokio::test]
    async fn a_request_that_goes_away_leaves_the_queue() {
        let gate = Arc::new(Gate::new(1, 1));
        let done = Arc::new(Mutex::new(Vec::new()));
        let running = gate.acquire(Priority::Login).await.unwrap();
        let gone = queued(&gate, Priority::Login, &done, "gone").await;
        gone.abort();
        let _ = gone.await;
        // Its place is free again.
        let next = queued(&gate, Priority::Login, &done, "next").await;
        drop(running);
        next.await.unwrap().unwrap();
        assert_eq!(*done.lock().unwrap(), ["next"]);
        assert_eq!(gate.lock().free, 1);
        assert!(gate.lock().waiting.is_empty());
    }
}
