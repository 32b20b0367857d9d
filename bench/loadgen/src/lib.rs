//! What the load generators share: reading a delivery's frame.

/// What a load generator reads of a frame (maze JSON): its subject and the
/// send time in its payload. Parsed in place, other fields skipped, so that
/// the client spends as little of the shared cores as it can on each of the
/// deliveries it times, whatever else the server's frames carry.
#[derive(serde::Deserialize)]
pub struct Delivery<'a> {
    #[serde(borrow)]
    pub subject: Option<&'a str>,
    pub payload: Option<Stamp>,
}

/// The send time a message carries, in microseconds since the client's start.
#[derive(serde::Deserialize)]
pub struct Stamp {
    pub t: Option<u64>,
}
