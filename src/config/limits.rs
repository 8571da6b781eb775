//! `[limits]` checked: how large a source's request, message and file count may be, and the
//! connection, head and slow-body limits of both listeners.

use super::{
    Invalid, NetLimits, RawLimits, DEFAULT_MAX_FILES, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_REQUEST_BYTES, MAX_CONNECTIONS,
};

/// The checked `[limits]`.
pub(super) struct Limits {
    pub(super) max_request_bytes: u64,
    pub(super) max_message_bytes: u64,
    pub(super) max_files: usize,
    pub(super) net: NetLimits,
}

/// Checks `[limits]`.
pub(super) fn validate(raw: &RawLimits) -> Result<Limits, Invalid> {
    let invalid = |key: &str, message: &str| Err((format!("limits.{key}"), message.to_owned()));
    let max_request_bytes = raw.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES);
    if max_request_bytes < 4096 {
        return invalid("max_request_bytes", "must be at least 4096 bytes");
    }
    let max_message_bytes = raw.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    if max_message_bytes == 0 || max_message_bytes > max_request_bytes {
        return invalid(
            "max_message_bytes",
            "must be above 0 and at most limits.max_request_bytes",
        );
    }
    let max_files = raw.max_files.unwrap_or(DEFAULT_MAX_FILES);
    if max_files == 0 || max_files > 10_000 {
        return invalid("max_files", "must be between 1 and 10000");
    }
    Ok(Limits {
        max_request_bytes,
        max_message_bytes,
        max_files,
        net: net(raw)?,
    })
}

fn net(raw: &RawLimits) -> Result<NetLimits, Invalid> {
    let invalid = |key: &str, message: String| Err((format!("limits.{key}"), message));
    let d = NetLimits::default();
    let secs = std::time::Duration::from_secs;
    let net = NetLimits {
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
        header_read_timeout: raw
            .header_read_timeout_seconds
            .map_or(d.header_read_timeout, secs),
        max_header_bytes: raw.max_header_bytes.unwrap_or(d.max_header_bytes),
        stall_window: raw.stall_window_seconds.map_or(d.stall_window, secs),
        stall_min_bytes: raw.stall_min_bytes.unwrap_or(d.stall_min_bytes),
    };
    if net.max_connections == 0 || net.max_connections > MAX_CONNECTIONS {
        return invalid(
            "max_connections",
            format!("must be between 1 and {MAX_CONNECTIONS}"),
        );
    }
    if net.header_read_timeout.is_zero() || net.header_read_timeout.as_secs() > 3600 {
        return invalid(
            "header_read_timeout_seconds",
            "must be between 1 and 3600".into(),
        );
    }
    if !(8192..=1024 * 1024).contains(&net.max_header_bytes) {
        return invalid(
            "max_header_bytes",
            "must be between 8192 and 1048576".into(),
        );
    }
    if net.stall_window.is_zero() || net.stall_window.as_secs() > 3600 {
        return invalid("stall_window_seconds", "must be between 1 and 3600".into());
    }
    Ok(net)
}
