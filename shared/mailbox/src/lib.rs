//! Mailbox intake: report mails pulled from the owner's own mailboxes (an IMAP folder) for
//! those whose `rua` address is not Rampart's SES. [`imap`] reads a folder without touching
//! it; [`intake`] runs a stored [`source::Source`]: each mail kept by the same path as SES
//! intake, then the checkpoint moved past it.

pub mod imap;
pub mod intake;
pub mod source;
