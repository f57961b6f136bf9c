//! Small parsing and formatting helpers shared by configuration, the store
//! and HTTP. They import nothing from the rest of the crate.

pub mod current;
pub mod duration;
pub mod open_files;
pub mod private_files;
pub mod recent_warnings;
pub mod time;
