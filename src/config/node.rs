//! `[node]`: what one `sanduq serve` process needs to be one of several behind a balancer —
//! the health listener a load balancer checks, and how long a stopping node waits for the
//! requests it has.
//!
//! Both matter for a single node too: `drain_seconds` is how long `systemctl stop` lets an
//! upload in flight finish. The health listener is off unless set, and belongs on loopback:
//! it is for the balancer on this machine, never for an onion service.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// `[node]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// The health listener's address; unset means none.
    pub health: Option<String>,
    /// Seconds a stopping node lets requests in flight finish.
    pub drain_seconds: Option<u64>,
}

/// The checked `[node]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Where `GET /health` is answered, if anywhere.
    pub health_addr: Option<SocketAddr>,
    /// How long, after SIGTERM, requests in flight get to finish before the process exits.
    pub drain: Duration,
}

/// Default drain: a minute, well inside systemd's default stop timeout of 90 s.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(60);
/// Longest drain accepted: an hour. A longer upload is cut (and not acknowledged).
pub const MAX_DRAIN_SECONDS: u64 = 3600;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            health_addr: None,
            drain: DEFAULT_DRAIN,
        }
    }
}

impl RawNode {
    /// Checks `[node]` against the other listeners; the error names the key (without
    /// `node.`) and says what to write.
    pub fn validate(self, others: [SocketAddr; 2]) -> Result<NodeConfig, (&'static str, String)> {
        let health_addr = match self.health {
            None => None,
            Some(v) => {
                let a = v.parse::<SocketAddr>().map_err(|_| {
                    (
                        "health",
                        format!("{v:?} is not an address; write it as \"127.0.0.1:8082\""),
                    )
                })?;
                if others.contains(&a) {
                    return Err((
                        "health",
                        "needs its own address, apart from the source site and the editor API"
                            .into(),
                    ));
                }
                // Reachable from elsewhere, every check would be a way to make this node
                // query both stores, and a way to learn when they are down.
                if !a.ip().is_loopback() {
                    return Err((
                        "health",
                        format!(
                            "{a} is not a loopback address; the balancer checks it on this \
                             machine, e.g. \"127.0.0.1:8082\""
                        ),
                    ));
                }
                Some(a)
            }
        };
        let drain = self.drain_seconds.unwrap_or(DEFAULT_DRAIN.as_secs());
        if !(1..=MAX_DRAIN_SECONDS).contains(&drain) {
            return Err((
                "drain_seconds",
                format!("must be between 1 and {MAX_DRAIN_SECONDS}"),
            ));
        }
        Ok(NodeConfig {
            health_addr,
            drain: Duration::from_secs(drain),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHERS: [SocketAddr; 2] = [
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080),
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081),
    ];

    fn raw(health: Option<&str>, drain: Option<u64>) -> RawNode {
        RawNode {
            health: health.map(str::to_owned),
            drain_seconds: drain,
        }
    }

    #[test]
    fn unset_means_no_health_listener_and_a_minute_of_drain() {
        assert_eq!(
            RawNode::default().validate(OTHERS).unwrap(),
            NodeConfig::default()
        );
    }

    #[test]
    fn health_is_on_loopback_and_apart_from_the_other_listeners() {
        let n = raw(Some("127.0.0.1:8082"), Some(5))
            .validate(OTHERS)
            .unwrap();
        assert_eq!(n.health_addr, Some("127.0.0.1:8082".parse().unwrap()));
        assert_eq!(n.drain, Duration::from_secs(5));
        assert!(raw(Some("[::1]:8082"), None).validate(OTHERS).is_ok());
        for bad in ["0.0.0.0:8082", "192.0.2.1:8082", "127.0.0.1:8080", "nope"] {
            assert_eq!(
                raw(Some(bad), None).validate(OTHERS).unwrap_err().0,
                "health",
                "{bad}"
            );
        }
    }

    #[test]
    fn the_drain_is_bounded() {
        for bad in [0, MAX_DRAIN_SECONDS + 1] {
            assert_eq!(
                raw(None, Some(bad)).validate(OTHERS).unwrap_err().0,
                "drain_seconds"
            );
        }
    }
}
