//! `sanduq inbox` as an editor uses it, in a real terminal (tmux) over a bundle fetched from a
//! real server: read, reply, queue a deletion, quit, push, and see the server change. And a
//! testimony full of terminal tricks, shown escaped and obeyed by nothing.

use std::path::Path;

use crate::common::tmux::Tmux;
use crate::common::*;

/// The shell command line starting the inbox on `bundle` with `ed`'s key.
/// Its `$EDITOR` is a script that writes a fixed reply, and its temporary folder `tmp/`
/// under `dir`, to see that nothing is left there.
fn inbox_cmd(dir: &Path, ed: &EditorKeys, bundle: &Path, save_to: &Path) -> String {
    let editor = dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nprintf 'A second answer, from an editor.\\n' > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    format!(
        "TMPDIR='{}' EDITOR='{}' {BIN} inbox -i '{}' --bundle '{}' --save-to '{}'",
        dir.join("tmp").display(),
        editor.display(),
        ed.identity.display(),
        bundle.display(),
        save_to.display()
    )
}

fn push(server: &Server, ed: &EditorKeys, bundle: &Path) -> std::process::Output {
    sanduq(&[
        "push",
        "--server",
        &server.api_url(),
        "--token-file",
        ed.token_file.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ])
}

/// The source that has `n` items in the bundle.
fn source_with_items(bundle: &Path, n: usize) -> String {
    let m = manifest(bundle);
    let items = m["items"].as_array().unwrap();
    let mut sources: Vec<&str> = items
        .iter()
        .map(|i| i["source"].as_str().unwrap())
        .collect();
    sources.sort();
    sources.dedup();
    sources
        .into_iter()
        .find(|s| items.iter().filter(|i| i["source"] == *s).count() == n)
        .unwrap()
        .to_owned()
}

/// The folder name (designation and id) the inbox and decrypt show for a source.
fn folder_of(source: &str) -> String {
    sanduq::designation::folder(source.parse().unwrap())
}

/// Moves the highlight (`> `) to the line containing `what`.
fn select(t: &Tmux, what: &str) -> String {
    for _ in 0..30 {
        let s = t.screen();
        if s.lines().any(|l| l.contains("> ") && l.contains(what)) {
            return s;
        }
        // The highlight goes down first; at the bottom, up from there.
        let below = s
            .lines()
            .skip_while(|l| !l.contains("> "))
            .any(|l| l.contains(what));
        t.keys(&[if below { "Down" } else { "Up" }]);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("could not select {what:?}:\n{}", t.screen());
}

/// Three sources: the first sends a message and a file and keeps its codename (returned).
async fn three_sources(server: &Server, said: &str, photo: &str) -> String {
    let a = Visitor::new(server).await;
    let (s, page) = a
        .submit(
            server,
            &[
                Part::text("message", format!("What I saw {said}").as_bytes()),
                Part::file(b"photo.jpg", photo.as_bytes()),
            ],
        )
        .await;
    assert_eq!(s, 200);
    for text in ["a second source", "a third source"] {
        let v = Visitor::new(server).await;
        let (s, _) = v
            .submit(server, &[Part::text("message", text.as_bytes())])
            .await;
        assert_eq!(s, 200);
    }
    codename_in(&page)
}

/// In the inbox: open `folder`'s conversation, reply `answer`, queue and save the file, mark
/// another source as handled, quit.
fn read_reply_queue(t: &Tmux, folder: &str, said: &str, photo: &str, answer: &str) {
    let list = t.wait_for("sanduq inbox: 3 sources, 4 unread");
    println!("--- the list of sources ---\n{list}");
    select(t, folder);
    t.keys(&["Enter"]);
    let conv = t.wait_for(&format!("What I saw {said}"));
    let size = format!("file photo.jpg ({} bytes)", photo.len());
    assert!(conv.contains(&size), "{conv}");
    assert!(
        conv.find("message from the source") < conv.find("file photo.jpg"),
        "in the order sent:\n{conv}"
    );

    // A reply, written inline.
    t.keys(&["r"]);
    t.wait_for("Reply to");
    t.type_text(&format!("Thank you. {answer}"));
    t.keys(&["Enter"]);
    t.type_text("We will write again.");
    println!("--- a reply ---\n{}", t.wait_for("We will write again."));
    t.keys(&["C-s"]);
    let conv = t.wait_for("reply encrypted into the outbox");
    assert!(
        conv.contains("reply of the desk, waiting in the outbox"),
        "{conv}"
    );
    assert!(conv.contains(answer), "the reply reads back: {conv}");

    // Another, written in $EDITOR.
    t.keys(&["e"]);
    t.wait_for("A second answer, from an editor.");

    // The file, queued for deletion; then saved.
    select(t, "file photo.jpg");
    t.keys(&["d"]);
    let conv = t.wait_for("1 item queued for deletion");
    println!("--- a conversation ---\n{conv}");
    assert!(conv.contains("· queued for deletion"), "{conv}");
    t.keys(&["s"]);
    t.wait_for("Save into which folder?");
    t.keys(&["Enter"]);
    t.wait_for("saved as");

    // Back to the list: read now; another source marked as handled.
    t.keys(&["q"]);
    let list = t.wait_for("sanduq inbox: 3 sources, 2 unread, 1 queued for deletion");
    assert!(!list.contains(&format!("● {folder}")), "read now: {list}");
    select(t, "  1 new");
    t.keys(&["h"]);
    let list = t.wait_for("marked as handled");
    let row = list.lines().find(|l| l.contains("> ")).unwrap();
    assert!(row.contains("  handled"), "{list}");
    t.keys(&["q"]);
    t.wait_for("EXIT=0");
}

/// `push`, then the server: the queued item gone, the others kept, the reply read by the
/// source; a second push of the same deletion is one summary line. Returns the deleted id.
async fn push_and_check(
    server: &Server,
    ed: &EditorKeys,
    bundle: &Path,
    source: &str,
    codename: &str,
    answer: &str,
) -> String {
    let queue = std::fs::read_to_string(bundle.join("outbox/delete.queue")).unwrap();
    let file_item = manifest(bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == source)
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .find(|id| queue.contains(id.as_str()))
        .expect("the queue names one of the source's items");

    let o = push(server, ed, bundle);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("pushed 2 replies in ")
            && err.contains("; 1 item deleted on the server, 0 already gone"),
        "{err}"
    );
    assert!(
        !bundle.join("outbox/delete.queue").exists(),
        "the queue is done"
    );

    let fresh = server.dir.path().join("fresh");
    assert!(fetch(server, ed, &fresh).status.success());
    let ids: Vec<String> = manifest(&fresh)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(!ids.contains(&file_item));
    let v = Visitor::new(server).await;
    let res = login(server, &v, codename).await;
    let page = page_with(server, &session_cookie(&res).unwrap()).await;
    assert!(page.contains(answer), "the source reads the reply");

    std::fs::write(bundle.join("outbox/delete.queue"), format!("{file_item}\n")).unwrap();
    let o = push(server, ed, bundle);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("0 items deleted on the server, 1 already gone"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    file_item
}

#[tokio::test(flavor = "multi_thread")]
async fn an_editor_reads_replies_and_queues_a_deletion_then_push_applies_both() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    let (said, photo, answer) = (marker(), marker(), marker());
    let codename = three_sources(&server, &said, &photo).await;
    let bundle = server.dir.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let source = source_with_items(&bundle, 2);
    let folder = folder_of(&source);

    let saved = server.dir.path().join("saved");
    let t = Tmux::start(
        server.dir.path(),
        &inbox_cmd(server.dir.path(), &ed, &bundle, &saved),
    );
    read_reply_queue(&t, &folder, &said, &photo, &answer);
    assert_eq!(
        std::fs::read(saved.join(&folder).join("photo.jpg")).unwrap(),
        photo.as_bytes(),
        "saved with decrypt's rules, into the source's folder"
    );
    // Read and handled marks stay in the bundle: the two items opened, the source marked.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("inbox.json")).unwrap()).unwrap();
    assert_eq!(state["read"].as_array().unwrap().len(), 2, "{state}");
    let handled = state["handled"].as_array().unwrap();
    assert!(
        handled.len() == 1 && handled[0] != source.as_str(),
        "{state}"
    );
    let left: Vec<_> = std::fs::read_dir(server.dir.path().join("tmp"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "the $EDITOR file is removed: {left:?}");
    push_and_check(&server, &ed, &bundle, &source, &codename, &answer).await;

    // decrypt's conversation.txt tells the same story, in order, the sent reply included
    // once, though fetch has now brought the desk's copy of it too.
    assert!(fetch(&server, &ed, &bundle).status.success());
    let out = server.dir.path().join("out");
    let o = decrypt(&ed.identity, &bundle, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join(&folder).join("conversation.txt")).unwrap();
    println!("--- conversation.txt ---\n{text}");
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s:?} not in:\n{text}"))
    };
    assert!(
        at(&said) < at("file photo.jpg") && at("file photo.jpg") < at(&answer),
        "{text}"
    );
    assert!(text.contains("reply of the desk, sent"), "{text}");
    assert!(text.contains("A second answer, from an editor."), "{text}");
    assert_eq!(text.matches(answer.as_str()).count(), 1, "{text}");
    assert!(text.contains("saved as: photo.jpg"), "{text}");

    // A fresh bundle (a lost stick) shows the desk's replies as fetch brought them.
    let out = server.dir.path().join("out-fresh");
    let fresh = server.dir.path().join("fresh");
    assert!(decrypt(&ed.identity, &fresh, &out).status.success());
    let text = std::fs::read_to_string(out.join(&folder).join("conversation.txt")).unwrap();
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s:?} not in:\n{text}"))
    };
    assert!(
        at(&said) < at(&answer),
        "after the message it answers: {text}"
    );
}

/// A message full of terminal tricks with a file whose name has some, and a form with a
/// hostile answer, from two sources.
async fn two_hostile_sources(server: &Server) {
    let hostile = "title\u{1b}]0;PWNED\u{7} red\u{1b}[31mRED\u{1b}[0m clear\u{1b}[2J\n\
                   csi\u{9b}1m bidi\u{202E}gpj.exe\u{202C} iso\u{2066}x\u{2069}\n\
                   zw\u{200B}j cr\r bell\u{7} end";
    let v = Visitor::new(server).await;
    let (s, _) = v
        .submit(
            server,
            &[
                Part::text("message", hostile.as_bytes()),
                Part::file("evil\u{200B}\u{202E}fdp.exe".as_bytes(), b"x"),
            ],
        )
        .await;
    assert_eq!(s, 200);
    // A second source: a form whose answer is hostile too.
    let w = Visitor::new(server).await;
    let (s, page) = w
        .submit(
            server,
            &[
                Part::text("form", b"detention"),
                Part::text("f.detained_name", "Ali\u{1b}[2J\u{202E}".as_bytes()),
                Part::text("f.arrest_date", b"2025-03-01"),
                Part::text("f.consent_publish", b"anonymous"),
                Part::text("f.consent_share", b"yes"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{page}");
}

/// The id of `source`'s file item, read from its metadata with the reference age CLI
/// (ciphertext sizes cannot tell: age adds a random grease stanza to each header).
fn file_item_of(bundle: &Path, ed: &EditorKeys, source: &str) -> String {
    let is_file = |id: &str| {
        let o = std::process::Command::new("age")
            .args(["-d", "-i"])
            .arg(&ed.identity)
            .arg(bundle.join(format!("items/{id}.meta.age")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).contains(r#""kind":"file""#)
    };
    manifest(bundle)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == source)
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .find(|id| is_file(id))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_testimony_reaches_the_terminal_escaped_and_obeyed_by_nothing() {
    let server = Server::start_default();
    let ed = server.add_editor("ana", None);
    two_hostile_sources(&server).await;
    let bundle = server.dir.path().join("bundle");
    assert!(fetch(&server, &ed, &bundle).status.success());
    let source = source_with_items(&bundle, 2);
    let form_source = source_with_items(&bundle, 1);

    // The file's content is damaged: it may not be queued for deletion.
    let file_item = file_item_of(&bundle, &ed, &source);
    let content = bundle.join(format!("items/{file_item}.age"));
    let intact = std::fs::read(&content).unwrap();
    let mut damaged = intact.clone();
    *damaged.last_mut().unwrap() ^= 1;
    std::fs::write(&content, &damaged).unwrap();

    let t = Tmux::start(
        server.dir.path(),
        &inbox_cmd(server.dir.path(), &ed, &bundle, server.dir.path()),
    );
    let title_before = t.format("#{pane_title}");
    t.wait_for("sanduq inbox: 2 sources");
    select(&t, &folder_of(&source));
    t.keys(&["Enter"]);
    let screen = t.wait_for("message from the source");
    println!("--- a hostile message ---\n{screen}");
    for shown in [
        "title<ESC>]0;PWNED<BEL> red<ESC>[31mRED<ESC>[0m clear<ESC>[2J",
        "csi<CSI>1m bidi<U+202E>gpj.exe<U+202C> iso<U+2066>x<U+2069>",
        "zw<U+200B>j cr<CR> bell<BEL> end",
    ] {
        assert!(
            screen.contains(shown),
            "{shown:?} not shown escaped:\n{screen}"
        );
    }
    assert!(
        screen.contains("file evil<U+200B><U+202E>fdp.exe"),
        "the file name shows its tricks: {screen}"
    );
    assert_eq!(
        t.format("#{pane_title}"),
        title_before,
        "the title is unchanged"
    );
    // The only attributes on screen are the inbox's own: bold, reverse, and resets.
    let styled = t.screen_with_styles();
    for sgr in styled.split('\u{1b}').skip(1) {
        let code = sgr.split_inclusive('m').next().unwrap_or_default();
        assert!(
            ["[0m", "[1m", "[7m", "[39m", "[49m"].contains(&code),
            "an attribute the inbox never sets: {code:?} in {styled:?}"
        );
    }
    select(&t, "message from the source");
    t.keys(&["Enter"]);
    let full = t.wait_for("PgUp PgDn scroll");
    assert!(
        full.contains("title<ESC>]0;PWNED<BEL>"),
        "the whole message too: {full}"
    );
    // The whole source, queued for deletion after a question.
    t.keys(&["q", "D"]);
    t.wait_for("Queue every item of this source");
    t.keys(&["y"]);
    t.wait_for("1 item queued for deletion");
    t.wait_for("1 not queued: it does not decrypt whole");
    let queue = std::fs::read_to_string(bundle.join("outbox/delete.queue")).unwrap();
    assert_eq!(queue.lines().count(), 1, "{queue}");
    assert!(
        !queue.contains(&file_item),
        "the damaged item is not queued"
    );
    std::fs::write(&content, &intact).unwrap();

    // The form's answers, question by question, the hostile one escaped.
    t.keys(&["q"]);
    select(&t, &folder_of(&form_source));
    t.keys(&["Enter"]);
    let screen = t.wait_for("form detention");
    assert!(screen.contains(": Ali<ESC>[2J<U+202E>"), "{screen}");
    t.keys(&["q", "q"]);
    t.wait_for("EXIT=0");
    assert_eq!(t.format("#{pane_title}"), title_before);

    // conversation.txt holds the same escaped text, nothing a terminal would obey.
    let out = server.dir.path().join("out");
    assert!(decrypt(&ed.identity, &bundle, &out).status.success());
    let folder = folder_of(&source);
    let text = std::fs::read_to_string(out.join(folder).join("conversation.txt")).unwrap();
    assert!(text.contains("title<ESC>]0;PWNED<BEL>"), "{text}");
    assert!(
        !text
            .chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202A}'..='\u{202E}').contains(&c)),
        "{text:?}"
    );
}
