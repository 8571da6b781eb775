# sanduq source site: English (the reference locale).
# Every message here must exist in every other locale file. Keep placeholders ({ $count },
# { $size }, { $files }, { $onion }) exactly as they are; translate everything else.

## The language, named in itself (shown in the language picker)
language-name = English

## Every page
site-name = sanduq
page-title = { $title } · sanduq
language-picker = Language
footer = Everything you send is encrypted the moment it arrives. Only the editors can read it.

## Warning for visitors who arrive through a Tor2web gateway
tor2web-title = Warning: you are not using Tor Browser.
tor2web-body = This page reached you through a Tor2web gateway. Whoever runs the gateway can see what you write, what you send and where you are.
tor2web-action = Send nothing here. Install Tor Browser and open this address in it instead:
tor2web-action-unknown = Send nothing here. Install Tor Browser and open this site's onion address in it instead.

## The form (front page)
index-title = Send a testimony
index-logged-in = You are logged in with your codename. What you send now is added to your earlier testimony.
logout = Log out
replies-heading = Answers from the editors
reply-delete = Delete this answer
reply-unreadable = (This answer could not be opened.)
replies-none = No answer yet. Come back later.
add-heading = Add to your testimony
come-back-question = Have you written to us before?
come-back-link = Come back with your codename
index-intro = Write what happened and attach photos or documents if you have them. What you send is encrypted on arrival; the server keeps nothing it can read. You do not need to give your name.
retention-days = { $days ->
    [one] The server keeps what you send for { $days } day after it arrives, then deletes it for good. If you do not use your codename for { $days } day, it stops working and the answers to you are deleted.
   *[other] The server keeps what you send for { $days } days after it arrives, then deletes it for good. If you do not use your codename for { $days } days, it stops working and the answers to you are deleted.
}
retention-keep = The server keeps what you send, encrypted, until the editors delete it.
desk-label = Who should receive it
message-label = Your message
files-legend = Files (optional)
files-hint = Up to { $files } files, { $size } in total. You can choose several files in each box.
files-label = Files
files-more-label = More files
submit-button = Send securely

## Sizes, as in "2 GiB in total"
size-bytes = { $n } bytes
size-kib = { $n } KiB
size-mib = { $n } MiB
size-gib = { $n } GiB

## After sending
thanks-title = Received
thanks-body = { $count ->
    [one] Your testimony has been received and encrypted: 1 item. Only the editors can read it.
   *[other] Your testimony has been received and encrypted: { $count } items. Only the editors can read it.
}
codename-heading = Your codename
codename-intro = With this codename you can come back, add to your testimony and read the editors' answer. This is the only time it is shown: nobody, not even the editors, can recover it.
codename-keep = Write it on paper and keep it hidden, or learn it by heart. Do not keep it on your phone or computer, and do not send it to anyone. Anyone who has it can read the answers meant for you.
codename-words = The seven words are English words. Copy each one letter by letter, in order, with a space between them.
thanks-close = For your safety, close Tor Browser completely when you are done. On a phone, closing this page is not enough: quit the Tor Browser app itself.
send-more = Send something else

## Coming back
login-title = Come back with your codename
login-intro = Type the seven words you were given, in order. Capital letters and extra spaces do not matter.
codename-label = Your codename
login-button = Log in
login-new-instead = Send a new testimony instead

## Errors: a title and a sentence each
error-back = Back to the start
error-bad-request-title = The form could not be read
error-bad-request = Your browser sent something the server could not understand. Nothing was stored. Please go back and try again.
error-forbidden-title = The form has expired
error-forbidden = For your safety, forms can only be sent from this site. Nothing was stored. Please go back, reload the page and send again.
error-too-large-title = Too much to send at once
error-too-large = What you sent is larger than this site accepts, or has too many files. Nothing was stored. Please send fewer or smaller files, or send them in several parts.
error-empty-title = Nothing to send
error-empty = Please write a message or choose a file, then send.
error-desk-closed-title = This desk cannot receive testimonies yet
error-desk-closed = No editor can read this desk yet, so nothing was stored. Please try again later.
error-stalled-title = The upload stopped
error-stalled = Your connection stopped sending for too long, so the upload was ended. Nothing was stored. Please try again: a slow connection is fine, one that stops is not.
error-not-found-title = Page not found
error-not-found = There is no page at this address.
error-unknown-codename-title = This codename is not known here
error-unknown-codename = Check that every word is written as you noted it, then try again.
error-storage-title = Your testimony could not be stored
error-storage = The server could not store what you sent, so nothing was kept. Please try again later.
error-unavailable-title = The site is unavailable for a moment
error-unavailable = Part of the server is out of reach for a moment, so nothing you sent was kept. Nothing is wrong on your side. Please try again in a few minutes.
error-internal-title = Something went wrong
error-internal = Nothing was stored. Please try again later.

## A login when too many wait (503); calm: the reader may be frightened
error-busy-title = Please wait a minute
error-busy = Many people are using this site right now, so your codename could not be checked yet. Nothing is lost and nothing is wrong on your side. Please try again in a minute.

## Forms (a page per form, linked from the front page)
forms-heading = Or answer the questions of a form
forms-intro = A form asks, one by one, what the editors need to document a case.
form-required = required
form-no-answer = No answer
form-files-legend = Files
form-free-message = Write a free message instead
form-errors-title = Some answers need your attention
form-errors-body = Nothing was stored yet. Your answers are kept below: correct the marked ones and send again.
form-files-again = Files are not kept when a form is sent back: please choose them again.
form-error-required = Please answer this question.
form-error-too-long = This answer is too long: at most { $max } characters.
form-error-date = Please give a date as year-month-day, for example 2024-03-15.
form-error-number = Please give a number from { $min } to { $max }.
form-error-number-any = Please give a number.
form-error-option = Please choose one of the answers offered.

# The editor's offline tools (sanduq decrypt and export): form answers in words.
editor-yes = Yes
editor-no = No
editor-consent = CONSENT
