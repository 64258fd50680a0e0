//! How failure messages are quoted in condition messages and event notes: few, short, each on
//! one line.

use crate::report::one_line;

/// How many messages a condition message or an event note quotes, and how long each may be.
const MAX_MESSAGES: usize = 3;
pub(super) const MAX_MESSAGE_CHARS: usize = 300;

/// The first few messages on one line each, shortened, and how many more there are.
pub(super) fn summarize<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = messages.collect();
    let text = all
        .iter()
        .take(MAX_MESSAGES)
        .map(|m| shorten(&one_line(m)))
        .collect::<Vec<_>>()
        .join("; ");
    if all.len() > MAX_MESSAGES {
        format!("{text} (and {} more)", all.len() - MAX_MESSAGES)
    } else {
        text
    }
}

pub(super) fn shorten(message: &str) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_string();
    }
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    format!("{cut}…")
}
