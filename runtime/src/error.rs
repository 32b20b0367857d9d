use std::fmt;

/// Why an app could not start.
///
/// ```
/// let error = maze::Config::parse("[app]\nport = 1\n").unwrap_err();
/// assert!(matches!(error, maze::Error::Config(_)));
/// assert!(error.to_string().starts_with("configuration error: maze.toml:"));
/// ```
#[derive(Debug)]
pub enum Error {
    /// `maze.toml` is missing, unreadable or invalid.
    Config(String),
    /// The server could not bind or serve.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(message) => write!(f, "configuration error: {message}"),
            Error::Io(error) => write!(f, "server error: {error}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error)
    }
}
