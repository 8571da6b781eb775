//! The inbox's model: the sources, the open conversation, what the editor is typing, and what
//! each key does. No terminal here: `view` draws an [`App`], `mod.rs` feeds it keys.

use std::path::PathBuf;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::widgets::ListState;
use zeroize::Zeroizing;

use super::state::State;
use crate::cli::bundle::{Bundle, Manifest};
use crate::cli::conversation::{Body, Conversation};
use crate::cli::{decrypt, delete_queue, reply, CliError, Result};
use crate::crypto::Identities;
use crate::ids::Id;

/// A source as the list shows it, from the manifest alone (nothing decrypted).
pub(super) struct SourceRow {
    pub(super) id: Id,
    pub(super) items: usize,
    pub(super) unread: usize,
    /// The UTC day of its latest item.
    pub(super) last_day: String,
    pub(super) handled: bool,
}

impl SourceRow {
    fn new(id: Id) -> SourceRow {
        SourceRow {
            id,
            items: 0,
            unread: 0,
            last_day: String::new(),
            handled: false,
        }
    }
}

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Screen {
    Sources,
    Conversation,
    /// One event in full, scrolled down by this many lines.
    Event(u16),
    /// Writing a reply.
    Compose,
}

/// A question on the bottom line, waiting for the editor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Prompt {
    /// Queue every readable item of the open source for deletion? (y/n)
    DeleteSource,
    /// The folder to save the selected file into (edited in `line`).
    SaveTo,
}

/// What the main loop must do after a key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Action {
    None,
    Quit,
    /// Leave the screen to the editor's `$EDITOR` and take back the reply written there.
    ExternalEditor,
}

/// The whole inbox.
pub(super) struct App {
    pub(super) bundle_dir: PathBuf,
    bundle: Bundle,
    pub(super) manifest: Manifest,
    ids: Identities,
    state: State,
    /// Items queued for deletion on the server.
    pub(super) queued: Vec<Id>,
    pub(super) rows: Vec<SourceRow>,
    pub(super) list: ListState,
    pub(super) conv: Option<Conversation>,
    pub(super) events: ListState,
    pub(super) screen: Screen,
    pub(super) prompt: Option<Prompt>,
    /// The reply being written, or the answer to a prompt.
    pub(super) draft: Zeroizing<String>,
    pub(super) line: String,
    /// The last thing done or refused, on the bottom line (sanduq's own words only).
    pub(super) status: String,
    save_to: PathBuf,
}

impl App {
    /// Opens the inbox on a bundle.
    pub(super) fn new(bundle_dir: PathBuf, ids: Identities, save_to: PathBuf) -> Result<App> {
        let bundle = Bundle::open(&bundle_dir, false)?;
        let manifest = bundle.manifest()?;
        let queued = delete_queue::read(&bundle.outbox())?;
        let state = State::load(&bundle_dir);
        let mut app = App {
            bundle_dir,
            bundle,
            manifest,
            ids,
            state,
            queued,
            rows: Vec::new(),
            list: ListState::default().with_selected(Some(0)),
            conv: None,
            events: ListState::default(),
            screen: Screen::Sources,
            prompt: None,
            draft: Zeroizing::new(String::new()),
            line: String::new(),
            status: String::new(),
            save_to,
        };
        app.refresh_rows();
        Ok(app)
    }

    /// Rebuilds the source list: new activity first, then not handled, then latest first.
    fn refresh_rows(&mut self) {
        let selected = self.selected_source();
        // One pass over the items: a bundle may hold tens of thousands.
        let mut by_source: std::collections::HashMap<Id, SourceRow> = self
            .manifest
            .sources
            .iter()
            .map(|s| (s.id, SourceRow::new(s.id)))
            .collect();
        for i in &self.manifest.items {
            let row = by_source
                .entry(i.source)
                .or_insert_with(|| SourceRow::new(i.source));
            row.items += 1;
            row.unread += usize::from(!self.state.read.contains(&i.id));
            if i.day > row.last_day {
                row.last_day.clone_from(&i.day);
            }
        }
        let mut rows: Vec<SourceRow> = by_source.into_values().collect();
        for r in &mut rows {
            r.handled = self.state.handled.contains(&r.id);
        }
        rows.sort_by(|a, b| {
            (b.unread > 0, !b.handled, &b.last_day, a.id).cmp(&(
                a.unread > 0,
                !a.handled,
                &a.last_day,
                b.id,
            ))
        });
        self.rows = rows;
        if let Some(id) = selected {
            let at = self.rows.iter().position(|r| r.id == id);
            self.list.select(at.or(Some(0)));
        }
    }

    fn selected_source(&self) -> Option<Id> {
        self.rows.get(self.list.selected()?).map(|r| r.id)
    }

    /// The source whose conversation is open.
    pub(super) fn open_source(&self) -> Option<Id> {
        self.conv.as_ref().map(|c| c.source)
    }

    /// Handles one key press.
    pub(super) fn key(&mut self, k: KeyEvent) -> Action {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(p) = self.prompt.clone() {
            self.prompt_key(p, k);
            return Action::None;
        }
        match self.screen {
            Screen::Sources => return self.sources_key(k),
            Screen::Conversation => return self.conversation_key(k),
            Screen::Event(scroll) => self.event_key(scroll, k),
            Screen::Compose => self.compose_key(k),
        }
        Action::None
    }

    fn sources_key(&mut self, k: KeyEvent) -> Action {
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Down | KeyCode::Char('j') => move_in(&mut self.list, self.rows.len(), 1),
            KeyCode::Up | KeyCode::Char('k') => move_in(&mut self.list, self.rows.len(), -1),
            KeyCode::Enter => self.open(),
            KeyCode::Char('h') => self.toggle_handled(),
            _ => {}
        }
        Action::None
    }

    fn conversation_key(&mut self, k: KeyEvent) -> Action {
        let n = self.conv.as_ref().map_or(0, |c| c.events.len());
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => {
                self.screen = Screen::Sources;
                self.conv = None;
                self.refresh_rows();
            }
            KeyCode::Down | KeyCode::Char('j') => move_in(&mut self.events, n, 1),
            KeyCode::Up | KeyCode::Char('k') => move_in(&mut self.events, n, -1),
            KeyCode::Enter => self.screen = Screen::Event(0),
            KeyCode::Char('r') => self.start_reply(),
            KeyCode::Char('e') if self.can_reply() => return Action::ExternalEditor,
            KeyCode::Char('d') => self.queue_selected(),
            KeyCode::Char('D') => self.prompt = Some(Prompt::DeleteSource),
            KeyCode::Char('s') => self.ask_save(),
            KeyCode::Char('h') => self.toggle_handled(),
            _ => {}
        }
        Action::None
    }

    fn event_key(&mut self, scroll: u16, k: KeyEvent) {
        self.screen = match k.code {
            KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => Screen::Conversation,
            KeyCode::Down | KeyCode::Char('j') => Screen::Event(scroll.saturating_add(1)),
            KeyCode::Up | KeyCode::Char('k') => Screen::Event(scroll.saturating_sub(1)),
            KeyCode::PageDown | KeyCode::Char(' ') => Screen::Event(scroll.saturating_add(20)),
            KeyCode::PageUp => Screen::Event(scroll.saturating_sub(20)),
            _ => Screen::Event(scroll),
        };
    }

    fn compose_key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => {
                self.draft = Zeroizing::new(String::new());
                self.screen = Screen::Conversation;
                self.status = "reply discarded".into();
            }
            KeyCode::Char('s') if ctrl => {
                let text = std::mem::take(&mut *self.draft);
                self.send_reply(Zeroizing::new(text));
            }
            KeyCode::Enter => self.draft.push('\n'),
            KeyCode::Backspace => {
                self.draft.pop();
            }
            KeyCode::Char(c) if !ctrl => self.draft.push(c),
            _ => {}
        }
    }

    fn prompt_key(&mut self, p: Prompt, k: KeyEvent) {
        match (p, k.code) {
            (Prompt::DeleteSource, KeyCode::Char('y')) => {
                self.prompt = None;
                self.queue_source();
            }
            (Prompt::DeleteSource, _) | (Prompt::SaveTo, KeyCode::Esc) => {
                self.prompt = None;
                self.status = "nothing done".into();
            }
            (Prompt::SaveTo, KeyCode::Enter) => {
                self.prompt = None;
                self.save_selected(PathBuf::from(self.line.trim()));
            }
            (Prompt::SaveTo, KeyCode::Backspace) => {
                self.line.pop();
            }
            (Prompt::SaveTo, KeyCode::Char(c)) => self.line.push(c),
            _ => {}
        }
    }

    /// Opens the selected source's conversation (decrypting it into memory) and marks its
    /// items read.
    fn open(&mut self) {
        let Some(id) = self.selected_source() else {
            return;
        };
        let conv = Conversation::load(&self.ids, &self.bundle, &self.manifest, id);
        let last = conv.events.len().checked_sub(1);
        self.state.read.extend(
            self.manifest
                .items
                .iter()
                .filter(|i| i.source == id)
                .map(|i| i.id),
        );
        self.status = match self.state.save() {
            Ok(()) => String::new(),
            Err(e) => e.to_string(),
        };
        self.conv = Some(conv);
        self.events = ListState::default().with_selected(last);
        self.screen = Screen::Conversation;
    }

    fn toggle_handled(&mut self) {
        let Some(id) = self.open_source().or_else(|| self.selected_source()) else {
            return;
        };
        let now = if self.state.handled.remove(&id) {
            false
        } else {
            self.state.handled.insert(id)
        };
        self.status = match self.state.save() {
            Ok(()) if now => "marked as handled".into(),
            Ok(()) => "no longer marked as handled".into(),
            Err(e) => e.to_string(),
        };
        self.refresh_rows();
    }

    fn source_info(&self) -> Option<&crate::store::SourceInfo> {
        let id = self.open_source()?;
        self.manifest.sources.iter().find(|s| s.id == id)
    }

    fn can_reply(&mut self) -> bool {
        let checked = match self.source_info() {
            None => Err("this bundle holds no reply key for this source".to_owned()),
            Some(s) => reply::check_can_reply(&self.manifest, s).map_err(|e| e.to_string()),
        };
        match checked {
            Ok(()) => true,
            Err(e) => {
                self.status = e;
                false
            }
        }
    }

    fn start_reply(&mut self) {
        if self.can_reply() {
            self.screen = Screen::Compose;
            self.status.clear();
        }
    }

    /// Encrypts the reply into the outbox, as `sanduq reply` does, and shows it in the
    /// conversation.
    pub(super) fn send_reply(&mut self, text: Zeroizing<String>) {
        let Some(source) = self.source_info().cloned() else {
            return;
        };
        // As `reply --identity`: only a reply this editor can read back is written.
        let ids = &self.ids;
        let check = |ct: &[u8]| {
            ids.decrypt(ct).map(|_| ()).map_err(|_| {
                CliError::new("your key is not among the editors this bundle encrypts replies to, so you could not read this reply back; nothing was written (sanduq accept)")
            })
        };
        let written = reply::write_reply(
            &self.bundle,
            &self.manifest,
            &source,
            text.as_bytes(),
            &check,
        );
        self.status = match written {
            Ok(_) if self.manifest.pending_editors.is_some() => format!(
                "reply encrypted into the outbox; {}",
                reply::pending_note(&self.bundle_dir)
            ),
            Ok(_) => "reply encrypted into the outbox; sanduq push uploads it".into(),
            Err(e) => {
                // Keep what was written, to correct it.
                self.draft = text;
                self.screen = Screen::Compose;
                self.status = e.to_string();
                return;
            }
        };
        self.screen = Screen::Conversation;
        self.reload();
    }

    fn reload(&mut self) {
        if let Some(id) = self.open_source() {
            let conv = Conversation::load(&self.ids, &self.bundle, &self.manifest, id);
            self.events.select(conv.events.len().checked_sub(1));
            self.conv = Some(conv);
        }
    }

    fn selected_event(&self) -> Option<&crate::cli::conversation::Event> {
        self.conv.as_ref()?.events.get(self.events.selected()?)
    }

    /// Queues the selected item, once it has decrypted whole.
    fn queue_selected(&mut self) {
        let Some(item) = self.selected_event().and_then(|e| e.item.clone()) else {
            self.status = "only what the source sent can be deleted from the server".into();
            return;
        };
        self.queue(&[item]);
    }

    /// Queues every item of the open source, once each has decrypted whole.
    fn queue_source(&mut self) {
        let items: Vec<_> = self
            .conv
            .iter()
            .flat_map(|c| c.readable_items().cloned())
            .collect();
        self.queue(&items);
    }

    fn queue(&mut self, items: &[crate::store::ItemRow]) {
        let dir = self.bundle.items_dir();
        let (ok, refused): (Vec<_>, Vec<_>) = items
            .iter()
            .partition(|i| delete_queue::check_readable(&self.ids, &dir, i).is_ok());
        let ids: Vec<Id> = ok.iter().map(|i| i.id).collect();
        self.status = match delete_queue::add(&self.bundle.outbox(), &ids) {
            Ok(total) => {
                let mut s = format!(
                    "{} item{} queued for deletion ({total} in the queue)",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" }
                );
                if !refused.is_empty() {
                    s.push_str(&format!(
                        "; {} not queued: {} not decrypt whole",
                        refused.len(),
                        if refused.len() == 1 {
                            "it does"
                        } else {
                            "they do"
                        }
                    ));
                }
                s
            }
            Err(e) => e.to_string(),
        };
        if let Ok(q) = delete_queue::read(&self.bundle.outbox()) {
            self.queued = q;
        }
    }

    fn ask_save(&mut self) {
        let savable = matches!(
            self.selected_event().map(|e| &e.body),
            Some(Body::File { .. } | Body::Message(_) | Body::Form { .. })
        );
        if savable {
            self.line = self.save_to.display().to_string();
            self.prompt = Some(Prompt::SaveTo);
        } else {
            self.status = "select something the source sent to save it".into();
        }
    }

    /// Decrypts the selected item into `out` with `decrypt`'s rules.
    fn save_selected(&mut self, out: PathBuf) {
        let Some(item) = self.selected_event().and_then(|e| e.item.clone()) else {
            return;
        };
        self.status = match decrypt::save_item(&self.ids, &self.bundle, &item, &out) {
            Ok(path) => format!(
                "saved as {}",
                crate::cli::visible::visible_line(&path.display().to_string())
            ),
            Err(e) => format!("not saved: {}", crate::cli::visible::visible_line(&e)),
        };
        self.save_to = out;
    }
}

/// Moves a list's selection by `by`, within `len` rows.
fn move_in(list: &mut ListState, len: usize, by: isize) {
    if len == 0 {
        return;
    }
    let at = list.selected().unwrap_or(0).saturating_add_signed(by);
    list.select(Some(at.min(len - 1)));
}
