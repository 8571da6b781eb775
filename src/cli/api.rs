//! The editor API as the CLI sees it: a hostile peer until proven otherwise.
//!
//! A seized or impersonated server may send anything, so the listing is read with a cap
//! ([`MAX_LISTING_BYTES`], far above any real desk) and refused whole when it passes it, when
//! it lists more than [`MAX_LISTED_ITEMS`] items, names an item twice, lists an item with no
//! content, or lists a recipient that cannot be one. An onion server is reached only through a
//! proxy that resolves names itself (`socks5h://`), so that the editor's network never sees
//! the onion address. The token is read from its file and never appears in a message.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use zeroize::Zeroizing;

use super::{CliError, Result, ServerArgs};
use crate::web::Listing;

/// The largest listing `fetch` reads, in bytes: about 100,000 items of a classical desk, or
/// 7,000 sources of a post-quantum one (whose reply keys are 2 KB each), with their items.
pub(super) const MAX_LISTING_BYTES: usize = 16 << 20;
/// The most items a listing may name.
pub(super) const MAX_LISTED_ITEMS: usize = Listing::MAX_ITEMS;
/// The header carrying the listing's tag, both ways (see src/web/api.rs).
const LISTING_TAG: &str = "sanduq-listing-tag";
/// The header that tells the desk's retention in days (`web::api`).
const RETENTION_DAYS: &str = "sanduq-retention-days";
/// The most editors a desk's listing may name.
const MAX_LISTED_EDITORS: usize = Listing::MAX_EDITORS;
/// The largest reply a listing may announce: the server takes replies of 1 MiB at most.
pub(super) const MAX_LISTED_REPLY: u64 = 2 << 20;
/// The longest recipient sanduq takes from a listing (a post-quantum one is about 1,960).
const MAX_RECIPIENT_LEN: usize = 8_192;

/// A client of one editor API, with the editor's token.
pub(super) struct Api {
    pub(super) client: reqwest::Client,
    pub(super) base: String,
    pub(super) auth: Zeroizing<String>,
    /// The SOCKS proxy, asked again for its reply code when it refuses a connection.
    proxy: Option<Zeroizing<String>>,
}

impl Api {
    pub(super) fn new(args: &ServerArgs) -> Result<Api> {
        let token = read_token(&args.token_file)?;
        let base = args.server.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::new(
                "--server must start with http:// or https://",
            ));
        }
        refuse_local_names_for_onions(&base, args.proxy.as_deref())?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(120))
            .read_timeout(Duration::from_secs(300))
            .no_proxy()
            // The editor API never redirects. A redirect from a hostile server would carry the
            // token to another scheme (reqwest keeps Authorization for the same host and
            // port), or send the client to an address the onion checks never saw.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("sanduq");
        if let Some(p) = &args.proxy {
            let scheme = p.split("://").next().unwrap_or_default();
            if !scheme.eq_ignore_ascii_case("socks5h") && !scheme.eq_ignore_ascii_case("socks5") {
                return Err(CliError::new(
                    "--proxy must be socks5h://HOST:PORT (socks5h resolves .onion names through Tor)",
                ));
            }
            // The proxy address may carry a user name and password (Tor stream isolation):
            // the reason is not shown.
            let proxy = reqwest::Proxy::all(p)
                .map_err(|_| CliError::new("--proxy is not a valid socks5h://HOST:PORT"))?;
            builder = builder.proxy(proxy);
        }
        let client = builder.build().map_err(CliError::new)?;
        Ok(Api {
            client,
            base,
            auth: Zeroizing::new(format!("Bearer {}", token.as_str())),
            proxy: args.proxy.clone().map(Zeroizing::new),
        })
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) fn check(&self, status: StatusCode, what: &str) -> Result<()> {
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(CliError::new(
                "the server refused the token (wrong, rotated, or the editor was removed)",
            )),
            StatusCode::NOT_FOUND => Err(CliError::new(format!("{what}: not found on the server"))),
            s => Err(CliError::new(format!("{what}: the server answered {s}"))),
        }
    }

    /// The desk's listing, read with a cap and checked (see the module header), with its tag;
    /// `None` if `tag`, the tag of an earlier listing, still matches.
    pub(super) async fn listing(
        &self,
        tag: Option<&str>,
    ) -> Result<Option<(Listing, Option<String>)>> {
        let mut req = self
            .client
            .get(self.url("/api/v1/items"))
            .header(AUTHORIZATION, self.auth.as_str());
        if let Some(tag) = tag {
            req = req.header(LISTING_TAG, tag);
        }
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return Err(self.unreachable(&e).await),
        };
        if tag.is_some() && res.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        // Kept only if it could be one: it goes back to the server, and into the bundle.
        let new_tag = res
            .headers()
            .get(LISTING_TAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 100 && v.bytes().all(|b| (b' '..=b'~').contains(&b)))
            .map(str::to_owned);
        let retention = super::expiry::retention(res.headers().get(RETENTION_DAYS));
        self.check(res.status(), "listing")?;
        let body = read_capped(res, MAX_LISTING_BYTES).await?;
        // serde's message may quote what the server sent: only the place is shown.
        let mut listing: Listing = serde_json::from_slice(&body).map_err(|e| {
            if e.to_string().starts_with(Listing::OVER_CAP) {
                return CliError::new(format!(
                    "the server sent a listing sanduq refuses: it lists more than {} items, {} sources, {} editors or {} replies; nothing was fetched (a damaged or hostile server: tell the desk's operator)",
                    Listing::MAX_ITEMS, Listing::MAX_SOURCES, Listing::MAX_EDITORS, Listing::MAX_REPLIES
                ));
            }
            CliError::new(format!(
                "the server sent a listing sanduq cannot read (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        drop(body);
        check_listing(&listing).map_err(|e| {
            CliError::new(format!(
                "the server sent a listing sanduq refuses: {e}; nothing was fetched (a damaged or hostile server: tell the desk's operator)"
            ))
        })?;
        listing.retention_days = retention.unwrap_or_else(|()| {
            eprintln!(
                "sanduq: the server sent a retention sanduq does not accept; no warning about items about to expire this time"
            );
            None
        });
        Ok(Some((listing, new_tag)))
    }
}

impl Api {
    /// Why the server could not be reached, in one line. When Tor refused the stream, the
    /// SOCKS client reports only that it could not parse Tor's reply (Tor's onion-service
    /// codes 0xF0–0xF7 are not in RFC 1928), so the proxy is asked once more and its code
    /// is put in words.
    async fn unreachable(&self, e: &reqwest::Error) -> CliError {
        let cause = root_cause(e);
        let why = match &self.proxy {
            Some(proxy) if cause.starts_with("SOCKS error") => {
                let code = tokio::time::timeout(
                    Duration::from_secs(120),
                    socks_reply_code(proxy, &self.base),
                )
                .await;
                match code.ok().flatten().and_then(tor_refusal) {
                    Some(reason) => format!("Tor refused the connection: {reason}"),
                    None => cause,
                }
            }
            _ => cause,
        };
        CliError::new(format!("cannot reach {}: {why}", self.base))
    }
}

/// What Tor's extended SOCKS reply `code` (SocksPort flag `ExtendedErrors`) means.
fn tor_refusal(code: u8) -> Option<&'static str> {
    Some(match code {
        0xF0 => "no descriptor found for this onion address (a wrong address, or the server's tor is down) (SOCKS error 0xF0)",
        0xF1 => "the onion service's descriptor is invalid (SOCKS error 0xF1)",
        0xF2 => "the onion service's introduction failed (the server's tor may be down) (SOCKS error 0xF2)",
        0xF3 => "the rendezvous with the onion service failed; try again (SOCKS error 0xF3)",
        0xF4 => "missing client authorisation: this onion service admits only tors that hold an editor's key, and this tor holds none for it (put it in ClientOnionAuthDir, see deploy/torrc, and restart tor) (SOCKS error 0xF4)",
        0xF5 => "wrong client authorisation: this tor's key for the onion service is not accepted (a mistyped or revoked key: ask the desk's operator) (SOCKS error 0xF5)",
        0xF6 => "not a valid onion address (check --server) (SOCKS error 0xF6)",
        0xF7 => "the onion service's introduction timed out; try again (SOCKS error 0xF7)",
        _ => return None,
    })
}

/// Opens a SOCKS5 stream to `server` through `proxy` (with its user name and password, so
/// that Tor uses the same circuit rules) and returns the proxy's reply code.
async fn socks_reply_code(proxy: &str, server: &str) -> Option<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let proxy = reqwest::Url::parse(proxy).ok()?;
    let server = reqwest::Url::parse(server).ok()?;
    let host = server.host_str()?;
    let port = server.port_or_known_default()?;
    let mut s = tokio::net::TcpStream::connect((proxy.host_str()?, proxy.port().unwrap_or(1080)))
        .await
        .ok()?;
    let (user, pass) = (proxy.username(), proxy.password().unwrap_or_default());
    let mut hello = [0u8; 2];
    if user.is_empty() {
        s.write_all(&[5, 1, 0]).await.ok()?;
        s.read_exact(&mut hello).await.ok()?;
    } else {
        s.write_all(&[5, 1, 2]).await.ok()?;
        s.read_exact(&mut hello).await.ok()?;
        let (user, pass) = (user.as_bytes(), pass.as_bytes());
        let mut auth = vec![1, u8::try_from(user.len()).ok()?];
        auth.extend_from_slice(user);
        auth.push(u8::try_from(pass.len()).ok()?);
        auth.extend_from_slice(pass);
        s.write_all(&auth).await.ok()?;
        s.read_exact(&mut hello).await.ok()?;
    }
    let mut connect = vec![5, 1, 0, 3, u8::try_from(host.len()).ok()?];
    connect.extend_from_slice(host.as_bytes());
    connect.extend_from_slice(&port.to_be_bytes());
    s.write_all(&connect).await.ok()?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).await.ok()?;
    Some(reply[1])
}

/// Reads the token from `path`. Neither the path nor the file's text is ever shown: an editor
/// who pastes the token itself where the path belongs must not see it echoed.
fn read_token(path: &Path) -> Result<Zeroizing<String>> {
    let text = std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                " (it takes the path of the file that holds the token, not the token itself)"
            } else {
                ""
            };
            CliError::new(format!(
                "cannot read the --token-file: {}{hint}",
                io_reason(&e)
            ))
        })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::new(
            "the --token-file is empty; it must hold the editor's API token",
        ));
    }
    // Anything else (an identity file given by mistake, say) is not sent to the server.
    let well_formed = token
        .strip_prefix(crate::tokens::PREFIX)
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !well_formed {
        return Err(CliError::new(format!(
            "the --token-file does not hold a sanduq API token (one line starting {}); nothing was sent",
            crate::tokens::PREFIX
        )));
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// The reason of an I/O error without the path or value it may name.
pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => crate::crypto::one_line(&e.to_string()),
    }
}

/// Refuses an onion `server` unless `proxy` resolves names itself: with no proxy, or with
/// `socks5://`, the onion name would be looked up in the local DNS, telling the editor's
/// network which editor API it talks to.
fn refuse_local_names_for_onions(server: &str, proxy: Option<&str>) -> Result<()> {
    let url =
        reqwest::Url::parse(server).map_err(|_| CliError::new("--server is not a valid URL"))?;
    let onion = url.host_str().is_some_and(|h| {
        h.trim_end_matches('.')
            .to_ascii_lowercase()
            .ends_with(".onion")
    });
    let remote_names = proxy.is_some_and(|p| {
        p.get(..10)
            .is_some_and(|s| s.eq_ignore_ascii_case("socks5h://"))
    });
    if onion && !remote_names {
        return Err(CliError::new(
            "--server is an onion address: give --proxy socks5h://127.0.0.1:9050 (Tor's SOCKS port; socks5h, so that Tor resolves the name), or the local DNS would be asked for it",
        ));
    }
    Ok(())
}

/// Reads a response body, refusing it as soon as it passes `cap` bytes.
pub(super) async fn read_capped(res: reqwest::Response, cap: usize) -> Result<Vec<u8>> {
    let too_big = || {
        CliError::new(format!(
            "the server sent a listing over {} MiB, more than any real desk; nothing was fetched (a damaged or hostile server: tell the desk's operator)",
            cap >> 20
        ))
    };
    if res.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            CliError::new(format!(
                "the listing was cut off ({}); run fetch again",
                root_cause(&e)
            ))
        })?;
        if body.len() + chunk.len() > cap {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What a listing must be before anything in it is used.
/// Every day in a listing must be a `YYYY-MM-DD` date: days are printed (decrypt's count of
/// items not for these keys, the inbox's list, expiry warnings), and the server's text is
/// never printed raw.
fn check_days(l: &Listing) -> Result<()> {
    let items = l.items.iter().map(|i| (i.id, i.day.as_str()));
    let replies = l.replies.iter().flatten().map(|r| (r.id, r.day.as_str()));
    let sources = l.sources.iter().map(|s| (s.id, s.day.as_str()));
    match items
        .chain(replies)
        .chain(sources)
        .find(|(_, day)| crate::ids::parse_day(day).is_none())
    {
        Some((id, _)) => Err(CliError::new(format!(
            "it lists {id} with a day that is not a date"
        ))),
        None => Ok(()),
    }
}

fn check_listing(l: &Listing) -> Result<()> {
    if l.items.len() > MAX_LISTED_ITEMS {
        return Err(CliError::new(format!(
            "it lists {} items, more than the {MAX_LISTED_ITEMS} sanduq takes",
            l.items.len()
        )));
    }
    if l.editors.len() > MAX_LISTED_EDITORS {
        return Err(CliError::new(format!(
            "it lists {} editors",
            l.editors.len()
        )));
    }
    check_days(l)?;
    let mut seen = HashSet::with_capacity(l.items.len());
    for i in &l.items {
        if !seen.insert(i.id) {
            return Err(CliError::new(format!("it lists item {} twice", i.id)));
        }
        if i.size == 0 || i.meta_size == 0 {
            return Err(CliError::new(format!(
                "it lists item {} with no content (0 bytes; every item is an age file)",
                i.id
            )));
        }
    }
    let mut replies = HashSet::new();
    for r in l.replies.iter().flatten() {
        if !replies.insert(r.id) {
            return Err(CliError::new(format!("it lists reply {} twice", r.id)));
        }
        if r.desk != l.desk {
            return Err(CliError::new(format!(
                "it lists reply {} of another desk",
                r.id
            )));
        }
        if r.size == 0 || r.size > MAX_LISTED_REPLY {
            return Err(CliError::new(format!(
                "it lists reply {} as {} bytes",
                r.id, r.size
            )));
        }
    }
    let recipients = l
        .editors
        .iter()
        .chain(l.sources.iter().filter_map(|s| s.reply_recipient.as_ref()));
    for r in recipients {
        if !plausible_recipient(r) {
            return Err(CliError::new(
                "it lists a recipient that is not an age recipient",
            ));
        }
    }
    Ok(())
}

/// A recipient sanduq may keep and show: bounded, printable ASCII, with no control character.
pub(super) fn plausible_recipient(r: &str) -> bool {
    !r.is_empty() && r.len() <= MAX_RECIPIENT_LEN && r.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// The innermost cause of an error, which says what went wrong on the network.
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onion_servers_need_a_proxy_that_resolves_names() {
        let onion = "http://sanduqxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion";
        for proxy in [None, Some("socks5://127.0.0.1:9050")] {
            let e = refuse_local_names_for_onions(onion, proxy).unwrap_err();
            assert!(e.to_string().contains("socks5h"), "{e}");
        }
        assert!(refuse_local_names_for_onions(&format!("{onion}.:80"), None).is_err());
        assert!(refuse_local_names_for_onions("http://X.ONION", None).is_err());
        assert!(refuse_local_names_for_onions(onion, Some("socks5h://127.0.0.1:9050")).is_ok());
        assert!(refuse_local_names_for_onions(onion, Some("SOCKS5H://127.0.0.1:9050")).is_ok());
        assert!(refuse_local_names_for_onions("http://127.0.0.1:8081", None).is_ok());
        assert!(refuse_local_names_for_onions("http://onion.example", None).is_ok());
    }

    #[test]
    fn tor_onion_refusals_are_put_in_words() {
        let missing = tor_refusal(0xF4).unwrap();
        assert!(
            missing.contains("missing client authorisation"),
            "{missing}"
        );
        assert!(missing.contains("0xF4"));
        assert!(tor_refusal(0xF5)
            .unwrap()
            .contains("wrong client authorisation"));
        assert!(tor_refusal(0xF0).unwrap().contains("no descriptor"));
        assert_eq!(tor_refusal(0x05), None);
    }

    #[test]
    fn recipients_from_a_listing_are_printable_and_bounded() {
        assert!(plausible_recipient("ssh-ed25519 AAAAC3Nza comment"));
        assert!(!plausible_recipient("age1\x1b[2J"));
        assert!(!plausible_recipient(""));
        assert!(!plausible_recipient(&"a".repeat(MAX_RECIPIENT_LEN + 1)));
    }
}
