//! Drawing the inbox. Every string a source could have written goes through
//! [`visible`](crate::cli::visible) (in `conversation::heading`/`body_text`) before it reaches
//! a widget; the rest is sanduq's own words. Styles are bold and reverse only: no colour that
//! could be confused with, or leak into, anything else on the terminal.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::{Block, List, ListItem, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use super::app::{App, Prompt, Screen};
use crate::cli::conversation::{body_text, heading, Event};
use crate::cli::visible::visible;

/// Lines of an event's text shown in the conversation before "Enter shows all".
const PREVIEW_LINES: usize = 8;

/// Draws the current screen.
pub(super) fn draw(f: &mut Frame<'_>, app: &mut App) {
    let [main, help, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    match app.screen {
        Screen::Sources => sources(f, main, app),
        Screen::Conversation => conversation(f, main, app),
        Screen::Event(scroll) => event(f, main, app, scroll),
        Screen::Compose => compose(f, main, app),
    }
    let keys = match (&app.prompt, app.screen) {
        (Some(Prompt::DeleteSource), _) => {
            "Queue every item of this source for deletion from the server? y: yes, any other key: no"
        }
        (Some(Prompt::SaveTo), _) => "Save into which folder? Enter: save  Esc: cancel",
        (None, Screen::Sources) => "↑↓ choose  Enter open  h handled  q quit",
        (None, Screen::Conversation) => {
            "↑↓ choose  Enter read  r reply  e reply in $EDITOR  s save  d/D delete item/all  h handled  q back"
        }
        (None, Screen::Event(_)) => "↑↓ PgUp PgDn scroll  q back",
        (None, Screen::Compose) => {
            "Ctrl-S encrypt to the source and the desk's editors, into the outbox  Esc discard"
        }
    };
    f.render_widget(
        Line::from(keys).style(Style::new().add_modifier(Modifier::REVERSED)),
        help,
    );
    let bottom = match app.prompt {
        Some(Prompt::SaveTo) => format!("folder: {}", visible(&app.line)),
        _ => app.status.clone(),
    };
    f.render_widget(Line::from(bottom), status);
}

fn title(text: String) -> Block<'static> {
    Block::bordered().title(Line::from(text).style(Style::new().add_modifier(Modifier::BOLD)))
}

fn sources(f: &mut Frame<'_>, area: Rect, app: &mut App) {
    let unread: usize = app.rows.iter().map(|r| r.unread).sum();
    let queued = app.queued.len();
    let items: Vec<ListItem<'_>> = app
        .rows
        .iter()
        .map(|r| {
            let name = crate::designation::folder(r.id);
            let new = if r.unread > 0 {
                format!("{:>3} new", r.unread)
            } else {
                "       ".into()
            };
            // Before the name, which a narrow terminal cuts: the status always shows.
            let handled = if r.handled { "handled  " } else { "" };
            ListItem::new(format!(
                "{} {new}  {:>4} item{}  last {}  {handled}{name}",
                if r.unread > 0 { "●" } else { " " },
                r.items,
                if r.items == 1 { " " } else { "s" },
                r.last_day,
            ))
        })
        .collect();
    let list = List::new(items)
        .block(title(format!(
            "sanduq inbox: {} source{}, {unread} unread, {queued} queued for deletion",
            app.rows.len(),
            if app.rows.len() == 1 { "" } else { "s" },
        )))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    f.render_stateful_widget(list, area, &mut app.list);
}

fn conversation(f: &mut Frame<'_>, area: Rect, app: &mut App) {
    let Some(conv) = &app.conv else { return };
    let width = usize::from(area.width.saturating_sub(4)).max(10);
    let items: Vec<ListItem<'_>> = conv
        .events
        .iter()
        .map(|e| {
            let queued = e.item.as_ref().is_some_and(|i| app.queued.contains(&i.id));
            event_item(e, width, queued)
        })
        .collect();
    let list = List::new(items)
        .block(title(format!(
            "{}: {} events, oldest first",
            crate::designation::folder(conv.source),
            conv.events.len()
        )))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    f.render_stateful_widget(list, area, &mut app.events);
}

/// An event in the conversation: its heading, then the first lines of its text.
fn event_item(e: &Event, width: usize, queued: bool) -> ListItem<'static> {
    let mut head = format!("── {}", heading(e));
    if queued {
        head.push_str(" · queued for deletion");
    }
    let mut lines = vec![Line::from(head).style(Style::new().add_modifier(Modifier::BOLD))];
    let body = wrap(&body_text(e), width);
    let more = body.len().saturating_sub(PREVIEW_LINES);
    lines.extend(body.into_iter().take(PREVIEW_LINES).map(Line::from));
    if more > 0 {
        lines.push(Line::from(format!("… {more} more lines: Enter shows all")));
    }
    lines.push(Line::from(""));
    ListItem::new(Text::from(lines))
}

fn event(f: &mut Frame<'_>, area: Rect, app: &App, scroll: u16) {
    let Some(e) = app
        .conv
        .as_ref()
        .zip(app.events.selected())
        .and_then(|(c, n)| c.events.get(n))
    else {
        return;
    };
    let mut body = body_text(e);
    if body.is_empty() {
        body = "Nothing to show here. A file is read once saved: q, then s.".into();
    }
    let text = Paragraph::new(body)
        .block(title(heading(e)))
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0));
    f.render_widget(text, area);
}

fn compose(f: &mut Frame<'_>, area: Rect, app: &App) {
    let who = app
        .open_source()
        .map(crate::designation::folder)
        .unwrap_or_default();
    let mut shown = visible(&app.draft);
    shown.push('▏');
    let text = Paragraph::new(shown)
        .block(title(format!("Reply to {who}")))
        .wrap(Wrap { trim: false });
    f.render_widget(text, area);
}

/// Breaks `text` into lines of at most `width` columns (at any character: testimonies have
/// long words and no spaces in some scripts).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cur = String::new();
        let mut cols = 0;
        for c in line.chars() {
            let w = c.width().unwrap_or(0);
            if cols + w > width {
                out.push(std::mem::take(&mut cur));
                cols = 0;
            }
            cur.push(c);
            cols += w;
        }
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_wrapped_by_columns() {
        assert_eq!(wrap("abcdef\nxy", 4), vec!["abcd", "ef", "xy"]);
        assert_eq!(wrap("ЖЖЖЖЖ", 2), vec!["ЖЖ", "ЖЖ", "Ж"]);
        assert_eq!(wrap("語語語", 4), vec!["語語", "語"]);
    }
}
