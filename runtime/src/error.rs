//! [`Error`]: why an app could not start or serve.

use std::fmt;

/// Why an app could not start or serve: its [`kind`](Error::kind), what
/// maze was doing, and the error underneath ([`source`](std::error::Error::source)).
/// [`Error::report`] shows all of it, as the generated `main` prints it:
///
/// ```
/// let error = maze::Config::parse("[app]\nname = \"chat\"\nprot = 1\n").unwrap_err();
/// assert_eq!(error.kind(), maze::ErrorKind::Config);
/// assert_eq!(error.to_string(), "maze.toml is invalid");
/// let report = error.report().to_string();
/// assert!(report.contains("unknown field `prot`"), "{report}");
/// assert!(report.contains("\n  |"), "the caret display, on lines of its own: {report}");
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What went wrong, for code that reacts to it.
///
/// ```
/// fn advice(error: &maze::Error) -> &'static str {
///     match error.kind() {
///         maze::ErrorKind::Bind => "is another app on that port?",
///         maze::ErrorKind::Redis => "is Redis running?",
///         _ => "see the message",
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `maze.toml` (or an environment override) is missing, unreadable or
    /// invalid, or the app's routes or sockets cannot be served as declared.
    Config,
    /// The server could not listen on its address.
    Bind,
    /// Redis (the pub/sub adapter) is unreachable or refused the connection.
    Redis,
    /// Another I/O failure while serving.
    Io,
}

impl Error {
    /// What went wrong.
    ///
    /// ```
    /// let error = maze::Config::parse("not toml").unwrap_err();
    /// assert_eq!(error.kind(), maze::ErrorKind::Config);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error and every error underneath, one per line: what a `main`
    /// prints (`eprintln!("error: {}", error.report())`).
    ///
    /// ```
    /// let error = maze::Config::parse("[app]\nport = 1\n").unwrap_err();
    /// assert!(error.report().to_string().starts_with("maze.toml is invalid\n"));
    /// ```
    pub fn report(&self) -> impl fmt::Display + '_ {
        Report(self)
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), source: None }
    }

    /// A configuration error.
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    /// The same error, caused by `source`.
    pub(crate) fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Shows the message, then a short debug form (`Error { kind, message,
/// source }`) would hide the caret display of a TOML error in escapes: so
/// `Debug` is the report too (what `fn main() -> Result<(), maze::Error>` prints).
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.report())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, "I/O error").caused_by(error)
    }
}

/// [`Error::report`].
struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(error) = source {
            write!(f, "\n{}", error.to_string().trim_end())?;
            source = error.source();
        }
        Ok(())
    }
}
