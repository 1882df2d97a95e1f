//! A caller's recurring schedule: when it runs (an EventBridge Scheduler expression, `rate(…)` or
//! `cron(…)`, in a time zone) and what each run submits. What an expression and a time zone may
//! be is decided here, before anything is made: the scheduler would refuse a malformed one only
//! after, and the emulator not at all.

use std::fmt;
use thiserror::Error;

/// A schedule's id: `sch_` and 32 lower-case hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleId(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("a schedule id is sch_ followed by 32 lower-case hex digits")]
pub struct InvalidScheduleId;

impl ScheduleId {
    pub fn generate() -> Self {
        Self(super::random_id::generate("sch_"))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidScheduleId> {
        super::random_id::is_spelled(raw, "sch_")
            .then(|| Self(raw.to_owned()))
            .ok_or(InvalidScheduleId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScheduleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A caller's recurring schedule: its expression and time zone, and the job each run submits.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub id: ScheduleId,
    pub owner: super::Principal,
    pub expression: Expression,
    pub timezone: String,
    pub job: courier_protocol::rest::ScheduledJob,
    pub paused: bool,
    pub created_at: time::OffsetDateTime,
}

impl Schedule {
    pub fn visible_to(&self, caller: &super::Principal) -> bool {
        &self.owner == caller
    }
}

/// The most schedules one caller may have.
pub const MAX_SCHEDULES: usize = 100;
/// The largest payload a schedule's job may carry (it travels in the schedule itself).
pub const MAX_SCHEDULED_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidSchedule {
    #[error(
        "expression: {0:?} is neither rate(<n> minute[s]|hour[s]|day[s]) nor cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)"
    )]
    Shape(String),
    #[error("expression: {0}")]
    Rate(String),
    #[error("expression: cron field {field} ({value:?}): {why}")]
    Cron {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("timezone: {0:?} is not an IANA time zone name (e.g. Europe/Paris, UTC)")]
    Timezone(String),
}

/// A checked schedule expression, as Scheduler takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression(String);

impl Expression {
    pub fn parse(raw: &str) -> Result<Self, InvalidSchedule> {
        let shape = || InvalidSchedule::Shape(raw.to_owned());
        if let Some(inner) = raw.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            check_rate(inner)?;
        } else if let Some(inner) = raw.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            check_cron(inner)?;
        } else {
            return Err(shape());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `<n> <unit>`: n a whole number from 1; the unit singular for 1 and plural otherwise, as
/// Scheduler requires.
fn check_rate(inner: &str) -> Result<(), InvalidSchedule> {
    let rate = |why: &str| InvalidSchedule::Rate(format!("rate({inner}): {why}"));
    let mut parts = inner.split(' ');
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(rate("a number and a unit, one space apart"));
    };
    let value: u32 = Some(value)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| rate("the number is a whole number from 1"))?;
    let (singular, plural) = match unit.trim_end_matches('s') {
        "minute" => ("minute", "minutes"),
        "hour" => ("hour", "hours"),
        "day" => ("day", "days"),
        _ => return Err(rate("the unit is minute(s), hour(s) or day(s)")),
    };
    let expected = if value == 1 { singular } else { plural };
    if unit != expected {
        return Err(rate(&format!("with {value}, the unit is {expected:?}")));
    }
    Ok(())
}

/// One cron field's rules: its name, its range, the names it takes, and what else it allows.
struct Field {
    name: &'static str,
    range: (u32, u32),
    names: &'static [&'static str],
    /// `?` (no specific value), allowed in day-of-month and day-of-week only.
    question: bool,
    /// `L`, `W` (day-of-month) and `#` (day-of-week).
    special: &'static str,
}

const FIELDS: [Field; 6] = [
    Field {
        name: "minutes",
        range: (0, 59),
        names: &[],
        question: false,
        special: "",
    },
    Field {
        name: "hours",
        range: (0, 23),
        names: &[],
        question: false,
        special: "",
    },
    Field {
        name: "day-of-month",
        range: (1, 31),
        names: &[],
        question: true,
        special: "LW",
    },
    Field {
        name: "month",
        range: (1, 12),
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
        question: false,
        special: "",
    },
    Field {
        name: "day-of-week",
        range: (1, 7),
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
        question: true,
        special: "L#",
    },
    Field {
        name: "year",
        range: (1970, 2199),
        names: &[],
        question: false,
        special: "",
    },
];

fn check_cron(inner: &str) -> Result<(), InvalidSchedule> {
    let values: Vec<&str> = inner.split(' ').collect();
    if values.len() != 6 {
        return Err(InvalidSchedule::Shape(format!("cron({inner})")));
    }
    for (field, value) in FIELDS.iter().zip(&values) {
        check_field(field, value)?;
    }
    // Scheduler: one of the day fields must be `?`, never both.
    if (values[2] == "?") == (values[4] == "?") {
        return Err(InvalidSchedule::Cron {
            field: "day-of-month",
            value: values[2].to_owned(),
            why: "exactly one of day-of-month and day-of-week is ?".into(),
        });
    }
    Ok(())
}

fn check_field(field: &Field, value: &str) -> Result<(), InvalidSchedule> {
    let refuse = |why: String| InvalidSchedule::Cron {
        field: field.name,
        value: value.to_owned(),
        why,
    };
    if value == "?" {
        return match field.question {
            true => Ok(()),
            false => Err(refuse("? is for the day fields only".into())),
        };
    }
    for item in value.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            Some(step)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|s| *s >= 1)
                .ok_or_else(|| refuse(format!("the step in {item:?} is a whole number from 1")))?;
        }
        if base == "*" {
            continue;
        }
        // Day-of-month L, LW, 15W; day-of-week 6L, 3#2.
        if !field.special.is_empty() && base.chars().any(|c| field.special.contains(c)) {
            let digits: String = base.chars().filter(char::is_ascii_digit).collect();
            let shaped = match field.name {
                "day-of-month" => matches!(base, "L" | "LW") || base == format!("{digits}W"),
                _ => {
                    base == format!("{digits}L")
                        || base.split_once('#').is_some_and(|(d, n)| {
                            number(field, d).is_some() && matches!(n, "1" | "2" | "3" | "4" | "5")
                        })
                }
            };
            // `6L`, `15W`: the day in range; no step after a special form.
            let in_range =
                digits.is_empty() || base.contains('#') || number(field, &digits).is_some();
            if !shaped || !in_range || step.is_some() {
                return Err(refuse(format!(
                    "{base:?} is not a valid {} form",
                    field.name
                )));
            }
            continue;
        }
        let (from, to) = match base.split_once('-') {
            Some((from, to)) => (from, Some(to)),
            None => (base, None),
        };
        let low = number(field, from).ok_or_else(|| {
            refuse(format!(
                "{from:?} is not from {} to {}{}",
                field.range.0,
                field.range.1,
                if field.names.is_empty() {
                    ""
                } else {
                    " (or a name)"
                }
            ))
        })?;
        if let Some(to) = to {
            let high =
                number(field, to).ok_or_else(|| refuse(format!("{to:?} is out of range")))?;
            if high < low {
                return Err(refuse(format!("the range {base:?} runs backwards")));
            }
        }
    }
    Ok(())
}

/// A field's number, or its name's number (`JAN` = 1, `SUN` = 1).
fn number(field: &Field, text: &str) -> Option<u32> {
    let value = match field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        Some(index) => index as u32 + 1,
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().ok()?
        }
        None => return None,
    };
    (field.range.0..=field.range.1)
        .contains(&value)
        .then_some(value)
}

/// A time zone as Scheduler takes it: an IANA name (`Europe/Paris`, `America/Argentina/Buenos_Aires`,
/// `Etc/GMT+5`) or `UTC`. Its existence is the scheduler's to confirm (on AWS a name it does not
/// know is refused when the schedule is made); the shape is checked here.
pub fn check_timezone(raw: &str) -> Result<(), InvalidSchedule> {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 30
            && p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
    };
    let parts: Vec<&str> = raw.split('/').collect();
    let ok = raw.len() <= 64 && (1..=3).contains(&parts.len()) && parts.iter().all(|p| part(p));
    ok.then_some(())
        .ok_or_else(|| InvalidSchedule::Timezone(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_numbers_of_minutes_hours_or_days() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "rate(12 hours)",
            "rate(1 day)",
            "rate(7 days)",
        ] {
            assert!(Expression::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "rate(0 minutes)",
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(1.5 hours)",
            "rate(1 week)",
            "rate(minute)",
            "rate( 1 minute)",
            "rate(1  minute)",
            "rate(+5 minutes)",
        ] {
            assert!(
                matches!(Expression::parse(bad), Err(InvalidSchedule::Rate(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn crons_have_six_fields_in_their_ranges_and_one_question_mark() {
        for ok in [
            "cron(0 9 * * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(30 8 ? * MON-FRI *)",
            "cron(0 0 1,15 * ? 2027)",
            "cron(0 12 L * ? *)",
            "cron(0 12 15W * ? *)",
            "cron(0 10 ? * 6L *)",
            "cron(0 10 ? * 2#1 *)",
            "cron(0 18 ? JAN-MAR SUN *)",
            "cron(59 23 31 12 ? 2199)",
        ] {
            assert_eq!(
                Expression::parse(ok).map(|e| e.0),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        for bad in [
            "cron(0 9 * * *)",
            "cron(0 9 * * * *)",
            "cron(0 9 ? * ? *)",
            "cron(60 9 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 9 32 * ? *)",
            "cron(0 9 * 13 ? *)",
            "cron(0 9 ? * 8 *)",
            "cron(0 9 ? * FOO *)",
            "cron(0 9 * * ? 1969)",
            "cron(0 9-5 * * ? *)",
            "cron(0/0 * * * ? *)",
            "cron(? 9 * * ? *)",
            "cron(0 9 ? * 2#6 *)",
            "cron(0 9 40W * ? *)",
            "cron(0 9 ? * 9L *)",
            "cron(0 9 ? * 0L *)",
            "cron(0 9 L/2 * ? *)",
            "cron(+5 9 * * ? *)",
            "0 9 * * ? *",
            "at(2027-01-01T00:00:00)",
        ] {
            assert!(Expression::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_are_iana_shaped() {
        for ok in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            assert_eq!(check_timezone(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Europe/",
            "/Paris",
            "Europe/Paris/x/y",
            "Paris; DROP",
            "Europe/Par is",
            "+01:00",
        ] {
            assert!(check_timezone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_have_one_spelling() {
        let id = ScheduleId::generate();
        assert_eq!(ScheduleId::parse(id.as_str()), Ok(id.clone()));
        for bad in ["", "sch_", "sch_XYZ", "up_0123456789abcdef0123456789abcdef"] {
            assert_eq!(ScheduleId::parse(bad), Err(InvalidScheduleId), "{bad:?}");
        }
    }
}
