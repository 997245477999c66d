//! DMARC aggregate reports: the model (the union of RFC 7489 and RFC 9990) and its parser.
//!
//! Field meanings are the RFCs'; see `docs/report-schema.md` for the serialised form.

mod model;
mod parse;
mod tags;

pub use model::*;
pub(crate) use parse::parse_counted;
pub use parse::{ParseError, parse, parse_slice};
