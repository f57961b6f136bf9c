//! The rule for the ids of entries in the data files (partners,
//! specialists, schedules): `[a-z0-9-]+`, not starting or ending with `-`.

/// `[a-z0-9-]+`, not starting or ending with `-`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("ulba-crisis-centre"));
        assert!(is_valid_id("150"));
        assert!(!is_valid_id("Ulba"));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id("-a"));
        assert!(!is_valid_id(""));
    }
}
