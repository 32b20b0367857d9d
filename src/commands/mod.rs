//! One module per subcommand that is not a generator: what `maze doctor`,
//! `maze routes` and `maze templates` do. The generators (`new`, `init`,
//! `g`, `d`) are in `crate::generators`, applied by [`generate`].

pub mod doctor;
pub mod generate;
pub mod routes;
pub mod templates;
