//! Changing files users own: text insertion at marker comments, a call
//! added to an axum router chain, and TOML edits that keep comments, order
//! and formatting.

pub mod router;
pub mod text;
pub mod toml;
