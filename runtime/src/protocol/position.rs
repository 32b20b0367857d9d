//! Where a broadcast stands in its topic's history (see [`crate::history`]).

use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;

/// An offset within an epoch: `(n, 0)` in memory, a Redis stream id `ms-seq`
/// with Redis; written `a-b`, ordered by both numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub u64, pub u64);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

impl Offset {
    /// Reads `a-b` (or `a`).
    ///
    /// ```
    /// use maze::history::Offset;
    /// assert_eq!(Offset::parse("1700000000000-3"), Some(Offset(1700000000000, 3)));
    /// assert!(Offset(9, 0) < Offset(10, 0));
    /// ```
    pub fn parse(text: &str) -> Option<Offset> {
        let (a, b) = text.split_once('-').unwrap_or((text, "0"));
        Some(Offset(a.parse().ok()?, b.parse().ok()?))
    }
}

/// Where a broadcast stands in its topic's history.
///
/// ```
/// use maze::history::{Offset, Position};
/// let position = Position { epoch: "e1".into(), offset: Offset(7, 0) };
/// assert_eq!(position.to_json(), serde_json::json!({"epoch": "e1", "offset": "7-0"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Changes when the history starts again (with nothing kept).
    pub epoch: Arc<str>,
    /// Grows with each broadcast on the topic.
    pub offset: Offset,
}

impl Position {
    /// `{"epoch": ..., "offset": ...}`, as clients send it back.
    pub fn to_json(&self) -> Value {
        json!({"epoch": &*self.epoch, "offset": self.offset.to_string()})
    }

    /// Reads what [`Position::to_json`] writes.
    ///
    /// ```
    /// # use maze::history::{Offset, Position};
    /// let position = Position::from_json(&serde_json::json!({"epoch": "e1", "offset": "7-0"})).unwrap();
    /// assert_eq!(position.offset, Offset(7, 0));
    /// ```
    pub fn from_json(value: &Value) -> Option<Position> {
        Some(Position {
            epoch: value["epoch"].as_str()?.into(),
            offset: Offset::parse(value["offset"].as_str()?)?,
        })
    }
}
