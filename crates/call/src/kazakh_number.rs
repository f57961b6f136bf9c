//! The numbers the centre calls back: numbers in Kazakhstan only. One pure
//! parser for every way a number reaches Senim (typed on the keypad in the
//! IVR, the caller id of a call, a number kept with a follow-up that
//! click-to-call is asked to ring), so the IVR and click-to-call can never
//! disagree.
//!
//! Why so strict: a caller, or someone pretending to be one, could leave a
//! premium-rate or foreign number and make the centre pay for the call (toll
//! fraud), or have the centre call a stranger abroad. The centre helps people
//! in Kazakhstan, so only numbers in Kazakhstan are taken.
//!
//! Kazakhstan shares the country code +7 with Russia. Under the Russian and
//! Kazakh agreement of 11 June 2006 on the shared numbering plan, Kazakhstan
//! has the zone codes 6xx and 7xx, Russia the others (3xx, 4xx, 8xx, 9xx):
//! geographic (landline) numbers are in 710-729 (for example 7232 for
//! Oskemen, 727 for Almaty), mobile numbers in 70x, 747, 76x, 77x, other
//! services in 75x and 76x; 6xx is Kazakhstan's but not yet in use. A
//! national significant number has ten digits: a geographic one is the area
//! code (three to five digits) and a local number of five to seven digits.
//! Within the country `8` is the trunk prefix and `8 10` the international
//! prefix (`8~10`). Sources: "Telephone numbers in Kazakhstan", Wikipedia
//! (the 2006 agreement, the zone codes and prefixes; read 2026), and the
//! Kazakh metadata of Google's libphonenumber (mobile
//! `7(?:0[0-25-8]|47|6[0-4]|7[15-8]|85)`, fixed lines `7[12]…`, local-only
//! lengths 5 to 7). A 2025 agreement is reported to give Kazakhstan +7 0xx
//! as well; that range is not accepted until numbers are issued in it.
//!
//! Accepted, once spaces, `-`, `.` and brackets are dropped:
//!
//! * `+7` and ten digits starting with 6 or 7 (`+7 701 123 45 67`);
//! * `8` or `7` and the same ten digits (`8 701 123 45 67`, `77011234567`);
//! * the ten digits alone (`701 123 45 67`, as mobiles dial each other);
//! * a local number of the centre's city, when its area code is configured:
//!   exactly `10 - len(area code)` digits, not starting with 0, 1 or 8
//!   (`771922` with area code 7232 is `+7 7232 771922`).
//!
//! Refused: anything with `+` and another country code, the international
//! prefixes `8 10` and `00`, `+7`/`8` numbers outside 6xx and 7xx (Russian
//! numbers such as `+7 916…`, `8 800…` free-phone and `8 809…` premium
//! numbers), short codes, and anything else.

use std::fmt;

/// Why a number is not called back. The messages never contain the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberRefusal {
    /// Empty, letters or symbols, or more digits than any phone number has.
    #[error("not a phone number")]
    NotANumber,
    /// `+` with a country code other than 7, or an international prefix
    /// (`8 10`, `00`).
    #[error("international numbers are not called back; only numbers in Kazakhstan are")]
    International,
    /// A +7 number outside Kazakhstan's zone codes 6xx and 7xx (a Russian
    /// number, or a free-phone or premium-rate code).
    #[error("not a number in Kazakhstan (+7 6xx or +7 7xx)")]
    NotKazakh,
    /// Too few or too many digits for a number in Kazakhstan, or a local
    /// number when no area code is configured.
    #[error(
        "not a complete number in Kazakhstan: ten digits after +7 or 8, \
         or a local number of the centre's city"
    )]
    Incomplete,
}

impl NumberRefusal {
    /// A short name for records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberRefusal::NotANumber => "not-a-number",
            NumberRefusal::International => "international",
            NumberRefusal::NotKazakh => "not-kazakh",
            NumberRefusal::Incomplete => "incomplete",
        }
    }
}

/// Why an area code is refused (configuration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an area code in Kazakhstan: 3 to 5 digits starting with 7, such as \"7232\"")]
pub struct AreaCodeError(pub String);

/// The area code of the centre's city without the country code (`7232` for
/// Oskemen): local numbers of that city are accepted without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaCode(String);

impl AreaCode {
    /// Three to five digits of a geographic zone (starting with 7).
    pub fn parse(text: &str) -> Result<AreaCode, AreaCodeError> {
        let code = text.trim();
        let ok = (3..=5).contains(&code.len())
            && code.starts_with('7')
            && code.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(AreaCode(code.to_string()))
        } else {
            Err(AreaCodeError(text.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How many digits a local number of this city has.
    pub fn local_length(&self) -> usize {
        NSN_LENGTH - self.0.len()
    }
}

/// Digits of a national significant number.
const NSN_LENGTH: usize = 10;
/// E.164 numbers have at most 15 digits.
const MAX_DIGITS: usize = 15;

/// A number in Kazakhstan: ten digits after the country code 7, the first
/// one 6 or 7.
#[derive(Clone, PartialEq, Eq)]
pub struct KazakhNumber {
    /// The national significant number.
    nsn: String,
}

/// The digits of a phone number are personal data: `{:?}` shows only the
/// zone code.
impl fmt::Debug for KazakhNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = self.nsn.get(..3).unwrap_or("");
        write!(f, "KazakhNumber(+7 {zone} …)")
    }
}

impl KazakhNumber {
    /// Parse `text` (typed, a caller id, or as kept with a follow-up);
    /// `area` is the centre's area code, for local numbers.
    pub fn parse(text: &str, area: Option<&AreaCode>) -> Result<KazakhNumber, NumberRefusal> {
        let text = text.trim();
        let (plus, rest) = match text.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(NumberRefusal::NotANumber),
            }
        }
        if digits.is_empty() || digits.len() > MAX_DIGITS {
            return Err(NumberRefusal::NotANumber);
        }
        let nsn = if plus {
            match digits.strip_prefix('7') {
                Some(nsn) => nsn,
                None => return Err(NumberRefusal::International),
            }
        } else if digits.starts_with("00") || digits.starts_with("810") {
            return Err(NumberRefusal::International);
        } else if digits.len() == NSN_LENGTH + 1
            && (digits.starts_with('8') || digits.starts_with('7'))
        {
            &digits[1..]
        } else if digits.len() == NSN_LENGTH && !digits.starts_with('8') {
            digits.as_str()
        } else {
            return match area {
                Some(area) if digits.len() == area.local_length() => {
                    if digits.starts_with(['0', '1', '8']) {
                        Err(NumberRefusal::Incomplete)
                    } else {
                        Ok(KazakhNumber {
                            nsn: format!("{}{digits}", area.as_str()),
                        })
                    }
                }
                _ => Err(NumberRefusal::Incomplete),
            };
        };
        if nsn.len() != NSN_LENGTH {
            return Err(NumberRefusal::Incomplete);
        }
        if !nsn.starts_with(['6', '7']) {
            return Err(NumberRefusal::NotKazakh);
        }
        Ok(KazakhNumber {
            nsn: nsn.to_string(),
        })
    }

    /// The number in E.164: `+77011234567`.
    pub fn e164(&self) -> String {
        format!("+7{}", self.nsn)
    }

    /// The ten digits after the country code.
    pub fn national_significant(&self) -> &str {
        &self.nsn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oskemen() -> AreaCode {
        AreaCode::parse("7232").expect("area code")
    }

    fn parse(text: &str) -> Result<String, NumberRefusal> {
        KazakhNumber::parse(text, Some(&oskemen())).map(|n| n.e164())
    }

    #[test]
    fn mobile_numbers_in_every_written_form() {
        for text in [
            "+77011234567",
            "+7 701 123 45 67",
            "+7 (701) 123-45-67",
            "87011234567",
            "8 701 123 45 67",
            "8-701-123-45-67",
            "77011234567",
            "7011234567",
            "701.123.45.67",
            "  +77011234567  ",
        ] {
            assert_eq!(parse(text), Ok("+77011234567".to_string()), "{text:?}");
        }
        for text in ["+77471234567", "87771234567", "87601234567", "+77081234567"] {
            assert!(parse(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn geographic_numbers_and_the_6xx_zone() {
        // Oskemen and Almaty landlines, national and international forms.
        assert_eq!(parse("8 7232 77-19-22").as_deref(), Ok("+77232771922"));
        assert_eq!(parse("+7 727 250 00 00").as_deref(), Ok("+77272500000"));
        assert_eq!(parse("87172123456").as_deref(), Ok("+77172123456"));
        // 6xx is Kazakhstan's by the 2006 agreement.
        assert_eq!(parse("+76001234567").as_deref(), Ok("+76001234567"));
        assert_eq!(parse("86991234567").as_deref(), Ok("+76991234567"));
    }

    #[test]
    fn local_numbers_of_the_centres_city() {
        // Oskemen: 7232 and six digits.
        assert_eq!(parse("771922").as_deref(), Ok("+77232771922"));
        assert_eq!(parse("77-19-22").as_deref(), Ok("+77232771922"));
        assert_eq!(parse("266892").as_deref(), Ok("+77232266892"));
        // Service and trunk-prefix starts are not local numbers.
        for text in ["012345", "112233", "812345"] {
            assert_eq!(parse(text), Err(NumberRefusal::Incomplete), "{text:?}");
        }
        // Wrong length for Oskemen.
        for text in ["77192", "7719221", "71922"] {
            assert_eq!(parse(text), Err(NumberRefusal::Incomplete), "{text:?}");
        }
        // Almaty (727): seven-digit local numbers.
        let almaty = AreaCode::parse("727").expect("area code");
        assert_eq!(
            KazakhNumber::parse("2500000", Some(&almaty)).map(|n| n.e164()),
            Ok("+77272500000".to_string())
        );
        // No area code configured: no local numbers.
        assert_eq!(
            KazakhNumber::parse("771922", None),
            Err(NumberRefusal::Incomplete)
        );
        assert!(KazakhNumber::parse("87011234567", None).is_ok());
    }

    #[test]
    fn russian_and_other_plus_seven_ranges_are_refused() {
        for text in [
            // Russian mobiles and geographic numbers.
            "+79161234567",
            "89161234567",
            "79161234567",
            "9161234567",
            "+74951234567",
            "84951234567",
            "+73832123456",
            "83432123456",
            // Free-phone and premium-rate codes.
            "88000807771",
            "+78001234567",
            "88091234567",
            // Zones 0xx, 1xx, 2xx, 5xx.
            "+70001234567",
            "+71234567890",
            "82234567890",
            "+75001234567",
        ] {
            assert_eq!(parse(text), Err(NumberRefusal::NotKazakh), "{text:?}");
        }
    }

    #[test]
    fn international_prefixes_are_refused() {
        for text in [
            "+4930123456",
            "+380441234567",
            "+1 212 555 0100",
            "+997 123 456 789",
            "+87011234567",
            "8 10 49 30 123456",
            "81049301234567",
            "8107011234567",
            "81077011234567",
            "00 49 30 123456",
            "007 701 123 45 67",
            "0077011234567",
        ] {
            assert_eq!(parse(text), Err(NumberRefusal::International), "{text:?}");
        }
    }

    #[test]
    fn wrong_lengths_and_garbage_are_refused() {
        for text in [
            "+7701123456",
            "+770112345678",
            "8701123456",
            "870112345678",
            "112",
            "1415",
            "12",
        ] {
            assert_eq!(parse(text), Err(NumberRefusal::Incomplete), "{text:?}");
        }
        for text in [
            "",
            "+",
            "  ",
            "anonymous",
            "*112#",
            "+7abc",
            "8701123456a",
            "sip:+77011234567@host",
            "7011234567;ext=1",
            "1234567890123456",
            "++77011234567",
        ] {
            assert_eq!(parse(text), Err(NumberRefusal::NotANumber), "{text:?}");
        }
    }

    #[test]
    fn refusals_never_hold_the_number_and_debug_hides_it() {
        for r in [
            NumberRefusal::NotANumber,
            NumberRefusal::International,
            NumberRefusal::NotKazakh,
            NumberRefusal::Incomplete,
        ] {
            let text = r.to_string();
            let b = text.as_bytes();
            assert!(
                !b.windows(2).any(|w| w.iter().all(u8::is_ascii_digit)),
                "{text}"
            );
        }
        let n = KazakhNumber::parse("+77011234567", None).expect("number");
        assert_eq!(format!("{n:?}"), "KazakhNumber(+7 701 …)");
        assert_eq!(n.national_significant(), "7011234567");
    }

    #[test]
    fn area_codes() {
        assert_eq!(oskemen().local_length(), 6);
        assert_eq!(AreaCode::parse("727").map(|a| a.local_length()), Ok(7));
        assert_eq!(AreaCode::parse("72351").map(|a| a.local_length()), Ok(5));
        for bad in ["", "72", "723456", "8727", "7a32", "+7232", "4951"] {
            assert!(AreaCode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
