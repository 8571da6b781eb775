//! `POST /submit`: the multipart request parsed, checked and handed to [`crate::intake`].
//!
//! This layer reads the form's fields, checks the form token, the desk, the form's answers
//! and the limits, and renders the pages; [`crate::intake::Submission`] encrypts, stores and
//! commits. A refused request deletes what it stored before it is answered.

use std::collections::BTreeMap;

use axum::body::{Body, BodyDataStream};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{pages, AppError, AppState};
use crate::codename::Codename;
use crate::forms::answers::Draft;
use crate::forms::Kind;
use crate::ids::{utc_day, Id};
use crate::intake::{ItemKind, Submission};
use crate::store::{SourceLogin, SourceRow};

/// Largest value of a small form field (token, desk, form id, a choice).
const SMALL_FIELD: usize = 256;
/// Parts allowed beyond the file limit (token, desk, form, message).
const EXTRA_PARTS: usize = 8;
/// How much of a refused request is read and discarded so the browser sees the error page.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// How long that may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);
/// How long the rest of a form sent back may take to arrive (slow sources are cut by the
/// minimum-progress rule long before).
const SENT_BACK_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// A new source's codename, derived on its own task while the source's parts still arrive:
/// the ~0.2 s of argon2 then overlaps the upload instead of following it. A request that
/// fails costs no more than a small submission that succeeds (one derivation); dropping it
/// cancels a derivation still waiting for its turn, and one already running ends and wipes its
/// buffer as any other (see [`crate::codename::Deriver`]). The codename and its keys now exist
/// while the upload runs rather than only at its end; one never shown (the upload failed) is
/// of no use to anyone, and both are wiped when dropped.
struct PendingCodename {
    shown: Zeroizing<String>,
    task: tokio::task::JoinHandle<Result<Box<crate::codename::Derived>, crate::codename::Error>>,
}

impl PendingCodename {
    fn start(st: &AppState) -> PendingCodename {
        let codename = Codename::generate();
        let shown = Zeroizing::new(codename.expose().to_owned());
        let deriver = st.deriver.clone();
        PendingCodename {
            shown,
            task: tokio::spawn(async move { deriver.derive_new(codename).await }),
        }
    }

    /// The codename to show once, and what is derived from it.
    async fn finish(
        mut self,
    ) -> Result<(Zeroizing<String>, Box<crate::codename::Derived>), AppError> {
        let derived = (&mut self.task)
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        Ok((std::mem::take(&mut self.shown), derived))
    }
}

impl Drop for PendingCodename {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `POST /submit`.
pub(crate) async fn submit(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let mut stream = body.into_data_stream();
    let mut submission = None;
    // A request is cut at half the janitor's grace period, so that no object of a request
    // still running is ever old enough for the janitor.
    let cut = st.config.store.janitor_grace / 2;
    let result = tokio::time::timeout(cut, receive(&st, &headers, &mut stream, &mut submission))
        .await
        .unwrap_or(Err(AppError::Stalled));
    // What a refused request stored is deleted before it is answered.
    if let Some(mut s) = submission.take() {
        s.discard().await;
    }
    // A form sent back for correction was refused before its files were received: the rest
    // of the request is read and dropped (the minimum-progress rule still applies), so that
    // the browser shows the answers kept rather than a broken connection.
    if result
        .as_ref()
        .is_ok_and(|r| r.status() == StatusCode::UNPROCESSABLE_ENTITY)
    {
        drain(
            &mut stream,
            st.config.max_request_bytes,
            SENT_BACK_DRAIN_TIME,
        )
        .await;
        return result;
    }
    // Draining more than DRAIN_LIMIT would not help: the connection closes after it anyway.
    // A request that declares more is answered at once.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if result.is_err() && declared.is_none_or(|n| n <= DRAIN_LIMIT) {
        drain(&mut stream, DRAIN_LIMIT, DRAIN_TIME).await;
    }
    result
}

/// Reads and discards what is left of a refused request, within bounds, so that the
/// browser, still sending, receives the error page instead of a reset connection.
async fn drain(stream: &mut BodyDataStream, limit: u64, time: std::time::Duration) {
    let mut left = limit;
    let _ = tokio::time::timeout(time, async {
        while let Some(Ok(chunk)) = stream.next().await {
            left = left.saturating_sub(chunk.len() as u64);
            if left == 0 {
                break;
            }
        }
    })
    .await;
}

/// Parses the request into `submission` and commits it. On any error the caller discards
/// what `submission` holds.
async fn receive(
    st: &AppState,
    headers: &HeaderMap,
    stream: &mut BodyDataStream,
    submission: &mut Option<Submission>,
) -> Result<Response, AppError> {
    let cfg = st.config.clone();
    let boundary = checked_head(&cfg, headers)?;
    // A logged-in source's form carries its session's token; a new source's, the cookie's.
    let session = st.sessions.for_request(headers).await?;
    let expected = match &session {
        Some(s) => s.csrf.clone(),
        None => pages::csrf_cookie(st, headers).ok_or(AppError::Forbidden)?,
    };
    let mut form = guarded_multipart(stream, boundary, cfg.max_request_bytes);
    let mut r = Reading {
        st,
        session: session.as_ref(),
        expected: &expected,
        token_ok: false,
        desk: match &session {
            Some(s) => s.desk.clone(),
            None => cfg.default_desk().name.clone(),
        },
        pending: None,
        part_count: 0,
        part_limit: cfg.max_files + EXTRA_PARTS,
        files: 0,
        draft: None,
        form_files: BTreeMap::new(),
        answers_checked: false,
    };
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        if let Some(sent_back) = r.part(&cfg, &mut field, submission).await? {
            return Ok(sent_back);
        }
    }
    r.finish(submission).await
}

/// The request's head checked before a byte of its body is read; the multipart boundary.
fn checked_head(cfg: &crate::config::Config, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > cfg.max_request_bytes {
            return Err(AppError::TooLarge);
        }
    }
    // A compressed body is never inflated: that would hand an attacker a multiplier.
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(AppError::BadRequest);
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        // RFC 2046: a boundary has 1 to 70 characters.
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or(AppError::BadRequest)
}

/// The body as multipart parts, within the request limit, each part's header block bounded.
fn guarded_multipart(
    stream: &mut BodyDataStream,
    boundary: String,
    max_request_bytes: u64,
) -> multer::Multipart<'_> {
    let limits = multer::SizeLimit::new()
        .whole_stream(max_request_bytes)
        .per_field(max_request_bytes);
    let mut guard = super::multipart_guard::PartHeaderGuard::new(&boundary);
    let guarded = stream.map(move |chunk| match chunk {
        Ok(bytes) if !guard.feed(&bytes) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "multipart header block too long",
        )),
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(std::io::Error::other(e)),
    });
    multer::Multipart::with_constraints(
        guarded,
        boundary,
        multer::Constraints::new().size_limit(limits),
    )
}

/// One request being read: who sends it and what its parts have said so far.
struct Reading<'r> {
    st: &'r AppState,
    session: Option<&'r super::session::SessionView>,
    /// The form token the request must carry.
    expected: &'r str,
    token_ok: bool,
    desk: String,
    pending: Option<PendingCodename>,
    part_count: usize,
    part_limit: usize,
    files: usize,
    /// A form's answers, and the files sent with each of its questions.
    draft: Option<Draft<'r>>,
    form_files: BTreeMap<String, Vec<Id>>,
    answers_checked: bool,
}

/// What a part is, once its name is read.
enum PartIs {
    /// Read whole already (the token, the desk, the form, an answer).
    Done,
    /// A page sending the form back for correction: the request ends here.
    SentBack(Response),
    /// Content to store: a file or not, its limit, the form question it answers.
    Content(bool, u64, Option<String>),
}

impl<'r> Reading<'r> {
    /// The form sent back with `problems`.
    fn sent_back(
        &self,
        draft: &Draft<'_>,
        problems: crate::forms::answers::Problems,
        had_files: bool,
    ) -> Response {
        super::forms::sent_back(
            self.st,
            draft,
            &problems,
            had_files,
            &self.desk,
            self.session.is_some(),
            self.expected,
        )
    }

    /// Reads one part; a page if the request ends with it before the commit.
    async fn part(
        &mut self,
        cfg: &'r crate::config::Config,
        field: &mut multer::Field<'_>,
        submission: &mut Option<Submission>,
    ) -> Result<Option<Response>, AppError> {
        self.part_count += 1;
        if self.part_count > self.part_limit {
            return Err(AppError::TooLarge);
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csrf_token" {
            let value = small_field(field).await?;
            self.token_ok = bool::from(value.as_bytes().ct_eq(self.expected.as_bytes()));
            if !self.token_ok {
                return Err(AppError::Forbidden);
            }
            return Ok(None);
        }
        // Nothing is read, let alone stored, before the form token has been checked.
        if !self.token_ok {
            return Err(AppError::Forbidden);
        }
        let (is_file, limit, form_field) =
            match self.what_part(cfg, &name, field, submission).await? {
                PartIs::Done => return Ok(None),
                PartIs::SentBack(page) => return Ok(Some(page)),
                PartIs::Content(is_file, limit, form_field) => (is_file, limit, form_field),
            };
        let sub = opened(self.st, submission, &self.desk).await?;
        // The first part to be stored starts a new source's derivation.
        if self.session.is_none() && self.pending.is_none() {
            self.pending = Some(PendingCodename::start(self.st));
        }
        let kind = if is_file {
            ItemKind::File {
                filename: field.file_name().map(str::to_owned),
                content_type: field.content_type().map(|m| m.to_string()),
                form_field: form_field.clone(),
            }
        } else {
            ItemKind::Message
        };
        let chunks = field.map(|c| c.map_err(multipart_error));
        let Some(id) = sub.stream(kind, chunks, limit).await? else {
            return Ok(None);
        };
        if is_file {
            self.files += 1;
            if self.files > cfg.max_files {
                return Err(AppError::TooLarge);
            }
        }
        if let Some(q) = form_field {
            self.form_files.entry(q).or_default().push(id);
        }
        Ok(None)
    }

    /// What the part called `name` is; the desk, the form and the answers are read here.
    async fn what_part(
        &mut self,
        cfg: &'r crate::config::Config,
        name: &str,
        field: &mut multer::Field<'_>,
        submission: &Option<Submission>,
    ) -> Result<PartIs, AppError> {
        match name {
            "desk" => {
                let value = small_field(field).await?;
                if self.session.is_some()
                    || submission.is_some()
                    || self.draft.is_some()
                    || cfg.desk(&value).is_none()
                {
                    return Err(AppError::BadRequest);
                }
                self.desk = value;
                Ok(PartIs::Done)
            }
            "form" => {
                let value = small_field(field).await?;
                let offered = cfg
                    .desk(&self.desk)
                    .is_some_and(|d| d.forms.contains(&value));
                if self.draft.is_some() || submission.is_some() || !offered {
                    return Err(AppError::BadRequest);
                }
                let f = cfg.form(&value).ok_or(AppError::BadRequest)?;
                self.part_limit += f.max_parts();
                self.draft = Some(Draft::new(f));
                Ok(PartIs::Done)
            }
            "message" if self.draft.is_none() => {
                Ok(PartIs::Content(false, cfg.max_message_bytes, None))
            }
            "file" if self.draft.is_none() => {
                Ok(PartIs::Content(true, cfg.max_request_bytes, None))
            }
            _ => self.form_question(cfg, name, field).await,
        }
    }

    /// A part answering question `f.<name>` of the form: an answer is read into the draft; a
    /// file is content to store, once the answers are checked.
    async fn form_question(
        &mut self,
        cfg: &'r crate::config::Config,
        name: &str,
        field: &mut multer::Field<'_>,
    ) -> Result<PartIs, AppError> {
        let (Some(d), Some(question)) = (self.draft.as_mut(), name.strip_prefix("f.")) else {
            return Err(AppError::BadRequest);
        };
        let def = d.form().field(question).ok_or(AppError::BadRequest)?;
        if def.kind != Kind::File {
            // Only text questions take long answers; a choice, date or number is short.
            let most = if def.kind.is_text() {
                def.max_length
            } else {
                0
            };
            let (value, cut) = answer_field(field, most).await?;
            d.push(question, &value).map_err(|_| AppError::BadRequest)?;
            if cut {
                d.mark_cut(question);
            }
            return Ok(PartIs::Done);
        }
        let form_field = def.name.clone();
        // The form puts its files after every answer: check the answers before the first
        // file is received, so that a form sent back costs no upload.
        let chosen = field.file_name().is_some_and(|n| !n.is_empty());
        if chosen && !self.answers_checked {
            self.answers_checked = true;
            let d = self.draft.as_ref().ok_or(AppError::BadRequest)?;
            if let Err(problems) = d.check(&self.form_files) {
                let problems: crate::forms::answers::Problems = problems
                    .into_iter()
                    .filter(|(n, _)| d.form().field(n).is_some_and(|f| f.kind != Kind::File))
                    .collect();
                if !problems.is_empty() {
                    return Ok(PartIs::SentBack(self.sent_back(d, problems, true)));
                }
            }
        }
        Ok(PartIs::Content(
            true,
            cfg.max_request_bytes,
            Some(form_field),
        ))
    }

    /// After the last part: the form's answers stored as one item, the source's row and
    /// login, the commit, the thanks page.
    async fn finish(mut self, submission: &mut Option<Submission>) -> Result<Response, AppError> {
        if !self.token_ok {
            return Err(AppError::Forbidden);
        }
        // A form's answers become one item, stored like any other part.
        if let Some(d) = &self.draft {
            if let Err(problems) = d.check(&self.form_files) {
                return Ok(self.sent_back(d, problems, !self.form_files.is_empty()));
            }
            let json = d
                .to_json(pages::current_locale(), &self.form_files)
                .map_err(AppError::internal)?;
            let form = ItemKind::Form {
                id: d.form().id.clone(),
                version: d.form().version,
            };
            opened(self.st, submission, &self.desk)
                .await?
                .add_first(form, &json)
                .await?;
        }
        let Some(sub) = submission.as_mut().filter(|s| !s.is_empty()) else {
            return Err(AppError::Empty);
        };
        let (source, login, codename) = self.source(sub).await?;
        let stored = sub.commit(&source, login.as_ref()).await?;
        super::activity::record(self.st, source.id, &self.desk).await;
        Ok(pages::thanks(stored, codename.as_deref().map(String::as_str))?.into_response())
    }

    /// A returning source adds to its own record; a new one gets a codename, shown once.
    async fn source(
        &mut self,
        sub: &Submission,
    ) -> Result<(SourceRow, Option<SourceLogin>, Option<Zeroizing<String>>), AppError> {
        if let Some(s) = self.session {
            let row = SourceRow {
                id: s.source,
                desk: self.desk.clone(),
                day: utc_day(),
            };
            return Ok((row, None, None));
        }
        // A form of answers only (no part stored yet) starts its derivation here.
        let (shown, derived) = self
            .pending
            .take()
            .unwrap_or_else(|| PendingCodename::start(self.st))
            .finish()
            .await?;
        let login = SourceLogin {
            login_hash: derived.login_hash(),
            // A post-quantum desk's replies go to a post-quantum reply key: age does not let
            // one file mix the two kinds.
            reply_recipient: derived.reply_recipient_for(
                sub.recipients()
                    .iter()
                    .all(|r| crate::crypto::is_post_quantum(r)),
            ),
            cost: derived.cost,
        };
        let row = SourceRow {
            id: Id::random(),
            desk: self.desk.clone(),
            day: utc_day(),
        };
        Ok((row, Some(login), Some(shown)))
    }
}

/// The submission of this request, started on the first part to store.
async fn opened<'a>(
    st: &AppState,
    submission: &'a mut Option<Submission>,
    desk: &str,
) -> Result<&'a mut Submission, AppError> {
    if submission.is_none() {
        let s = Submission::open(st.blobs.clone(), st.meta.clone(), desk).await?;
        *submission = Some(s);
    }
    submission
        .as_mut()
        .ok_or_else(|| AppError::internal("no submission"))
}

async fn small_field(field: &mut multer::Field<'_>) -> Result<String, AppError> {
    let mut v = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        v.extend_from_slice(&chunk);
        if v.len() > SMALL_FIELD {
            return Err(AppError::BadRequest);
        }
    }
    String::from_utf8(v).map_err(|_| AppError::BadRequest)
}

/// Reads one answer of at most `max_chars` characters (or a short value, for 0). A longer one
/// is cut, not refused, and reported as cut: what is kept (more than `max_chars` characters,
/// whatever the script) is shown back to the source with the request to shorten it.
async fn answer_field(
    field: &mut multer::Field<'_>,
    max_chars: usize,
) -> Result<(Zeroizing<String>, bool), AppError> {
    let limit = max_chars.max(SMALL_FIELD / 4) * 4 + 4;
    let mut v = Zeroizing::new(Vec::with_capacity(limit.min(64 * 1024)));
    let mut cut = false;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        let room = limit.saturating_sub(v.len());
        cut |= chunk.len() > room;
        v.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    // Cut at a character boundary; anything else that is not UTF-8 is a broken request.
    let text = match std::str::from_utf8(&v) {
        Ok(t) => t,
        Err(e) if v.len() >= limit && e.error_len().is_none() => {
            std::str::from_utf8(&v[..e.valid_up_to()]).map_err(|_| AppError::BadRequest)?
        }
        Err(_) => return Err(AppError::BadRequest),
    };
    Ok((Zeroizing::new(text.to_owned()), cut))
}

fn multipart_error(e: multer::Error) -> crate::intake::Error {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            crate::intake::Error::TooLarge
        }
        _ => crate::intake::Error::Malformed,
    }
}
