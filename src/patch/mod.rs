//! Changing files users own: text insertion at marker comments, and TOML edits
//! that keep comments, order and formatting.

pub mod text;
pub mod toml;
