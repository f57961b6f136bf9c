//! Routing facts for Senim, kept as data and checked at load time.
//!
//! * [`hours`]: weekly schedules (`mon = "09:00-18:00"`), the Kazakhstan
//!   holiday table (`data/holidays-kz.toml`) and a [`hours::Calendar`] that
//!   answers "is this schedule open at this instant?" in Asia/Almaty time.
//! * [`partners`]: the partner directory (`data/partners.toml`): the only
//!   places a call may ever be transferred to.
//! * [`specialists`]: the `[[specialist]]` entries: skills, languages,
//!   contact, schedule, calls at a time, wrap-up.
//! * [`availability`]: the live [`availability::Roster`] (registrations,
//!   calls, pauses, wrap-up) and whether someone may be rung now.
//! * [`limits`]: wrap-up kinds and the limits that protect specialists
//!   (rest by kind, a break after crisis calls in a row, a daily cap, alerts).
//! * [`strategy`]: candidate order per route (longest-idle, ring-all,
//!   sequential, round-robin; the caller's language first).
//! * [`router`]: the sans-IO [`router::Router`]: rings, queue, callback
//!   offers, overflow and the routing steps of the call record.
//!
//! The crate is sans-IO: it never reads the clock and never touches a socket.
//! The instant of a call enters as an argument (`DateTime<Utc>`); files are
//! read only by the explicit `load` functions. Nothing here panics on input:
//! every problem in a file comes back as an error that names the file, the
//! entry and the key.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod availability;
mod data_file;
mod entry_id;
pub mod hours;
pub mod limits;
pub mod partners;
pub mod router;
pub mod specialists;
pub mod strategy;
mod toml_value;
mod verified;

pub use verified::Verified;
