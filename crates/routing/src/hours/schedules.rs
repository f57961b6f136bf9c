//! Named schedules ([`Schedules`]): `[hours.centre]`, `[hours.night]`, ...

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use toml::Table;

use super::error::{schedule_err, HoursError};
use super::weekly_schedule::WeeklySchedule;
use crate::data_file;
use crate::entry_id::is_valid_id;

/// Named schedules, e.g. the `[hours]` section of the configuration:
///
/// ```toml
/// [hours.centre]
/// mon = "09:00-18:00"
/// # ...
/// [hours]
/// night = "24/7"
/// ```
///
/// Ids are `[a-z0-9-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedules(BTreeMap<String, WeeklySchedule>);

impl Default for Schedules {
    fn default() -> Self {
        Schedules::default_centre()
    }
}

impl Schedules {
    /// The id of the centre's own schedule.
    pub const CENTRE: &'static str = "centre";

    /// Only `centre`: Mon-Fri 09:00-18:00, closed on holidays.
    pub fn default_centre() -> Schedules {
        let mut m = BTreeMap::new();
        m.insert(Self::CENTRE.to_string(), WeeklySchedule::centre_default());
        Schedules(m)
    }

    /// No schedules at all.
    pub fn empty() -> Schedules {
        Schedules(BTreeMap::new())
    }

    /// Adds `centre` with the default hours when the configuration gave none.
    pub fn with_default_centre(mut self) -> Schedules {
        self.0
            .entry(Self::CENTRE.to_string())
            .or_insert_with(WeeklySchedule::centre_default);
        self
    }

    /// The schedule with this id.
    pub fn get(&self, id: &str) -> Option<&WeeklySchedule> {
        self.0.get(id)
    }

    /// Adds or replaces a schedule. Fails on an id outside `[a-z0-9-]`.
    pub fn insert(&mut self, id: &str, schedule: WeeklySchedule) -> Result<(), HoursError> {
        if !is_valid_id(id) {
            return Err(schedule_err(
                id,
                "a schedule id is lower-case letters, digits and `-`",
            ));
        }
        self.0.insert(id.to_string(), schedule);
        Ok(())
    }

    /// The ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Id and schedule pairs, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &WeeklySchedule)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of schedules.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a table of named schedules (the contents of `[hours]`).
    pub fn from_toml_table(table: &Table) -> Result<Schedules, HoursError> {
        let mut m = BTreeMap::new();
        for (id, v) in table {
            if !is_valid_id(id) {
                return Err(schedule_err(
                    id.as_str(),
                    "a schedule id is lower-case letters, digits and `-`",
                ));
            }
            m.insert(id.clone(), WeeklySchedule::value_at(v, id)?);
        }
        Ok(Schedules(m))
    }

    /// Parses a TOML document whose top level is the table of schedules
    /// (`[centre]`, `[night]` ...).
    pub fn from_toml_str(text: &str) -> Result<Schedules, HoursError> {
        let table: Table = data_file::parse_table(text, Path::new("<schedules>"))?;
        Schedules::from_toml_table(&table)
    }
}

impl<'de> Deserialize<'de> for Schedules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Table::deserialize(d)?;
        Schedules::from_toml_table(&t).map_err(serde::de::Error::custom)
    }
}
