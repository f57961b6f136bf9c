//! Changing the configuration of a running Senim without hanging up: SIGHUP,
//! `senim reload` and `POST /config/reload` read the whole configuration
//! again. `changes` sorts a new configuration into what is applied at once
//! and what takes effect after a restart; `live` loads, checks and applies
//! it; `answer` is what a reload answers (logged, returned over HTTP,
//! written to the data folder); `request` is the `senim reload` command's
//! side, which signals the running Senim and reads that answer.

pub mod answer;
pub mod changes;
pub mod live;
pub mod request;
