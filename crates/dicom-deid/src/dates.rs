//! Date shifting for the Retain Longitudinal Temporal Information with Modified Dates option.
//!
//! All dates of one patient move by the same whole number of days (see
//! [`Key::date_offset_days`](crate::keys::Key::date_offset_days)), so every interval between
//! them is preserved. Times (TM) do not change. Values are handled at the partial precisions
//! DICOM allows (DA `YYYYMMDD`, legacy `YYYY.MM.DD`; DT from `YYYY` to full precision with
//! fraction and offset); a value that is not a date is reported, never kept.

use chrono::{Duration, NaiveDate};

/// A value that could not be read as a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid DICOM date")]
pub struct NotADate;

fn shift_ymd(y: &str, m: &str, d: &str, days: i64) -> Result<NaiveDate, NotADate> {
    let parse = |s: &str| s.parse::<u32>().map_err(|_| NotADate);
    let year = y.parse::<i32>().map_err(|_| NotADate)?;
    let date = NaiveDate::from_ymd_opt(year, parse(m)?, parse(d)?).ok_or(NotADate)?;
    date.checked_add_signed(Duration::days(days))
        .ok_or(NotADate)
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Shifts one DA value (`YYYYMMDD`, or legacy `YYYY.MM.DD`); an empty value stays empty.
pub fn shift_da_value(value: &str, days: i64) -> Result<String, NotADate> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let (y, m, d) = match v.len() {
        8 if all_digits(v) => (&v[0..4], &v[4..6], &v[6..8]),
        10 if v.as_bytes()[4] == b'.' && v.as_bytes()[7] == b'.' => (&v[0..4], &v[5..7], &v[8..10]),
        _ => return Err(NotADate),
    };
    Ok(shift_ymd(y, m, d, days)?.format("%Y%m%d").to_string())
}

/// Shifts one DT value, keeping its precision, time, fraction and UTC offset.
pub fn shift_dt_value(value: &str, days: i64) -> Result<String, NotADate> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 4 {
        return Err(NotADate);
    }
    // Partial dates shift from the first day of their period and keep their precision.
    let (m, d) = match digits {
        4 | 5 => ("01", "01"),
        6 | 7 => (&v[4..6], "01"),
        _ => (&v[4..6], &v[6..8]),
    };
    let shifted = shift_ymd(&v[0..4], m, d, days)?
        .format("%Y%m%d")
        .to_string();
    let keep = digits.min(8);
    let keep = if keep >= 8 {
        8
    } else if keep >= 6 {
        6
    } else {
        4
    };
    Ok(format!("{}{}", &shifted[..keep], &v[keep..]))
}

/// Shifts a whole DA or DT element value: backslash-separated values and `-` ranges.
pub fn shift_value(value: &str, days: i64, is_dt: bool) -> Result<String, NotADate> {
    let one = |s: &str| {
        if is_dt {
            shift_dt_value(s, days)
        } else {
            shift_da_value(s, days)
        }
    };
    let mut parts = Vec::new();
    for v in value.split('\\') {
        // A range (query form) `A-B`; DT values may carry a `-hhmm` offset, so ranges are
        // only split for DA.
        if !is_dt && v.contains('-') {
            let shifted: Result<Vec<_>, _> = v.split('-').map(one).collect();
            parts.push(shifted?.join("-"));
        } else {
            parts.push(one(v)?);
        }
    }
    Ok(parts.join("\\"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shifts_dates_and_keeps_precision() {
        assert_eq!(shift_da_value("20240301", -1).unwrap(), "20240229");
        assert_eq!(shift_da_value("2024.03.01", -1).unwrap(), "20240229");
        assert_eq!(
            shift_dt_value("20240301123000.5+0100", -7).unwrap(),
            "20240223123000.5+0100"
        );
        assert_eq!(shift_dt_value("202403", -7).unwrap(), "202402");
        assert_eq!(shift_dt_value("2024", -7).unwrap(), "2023");
        assert_eq!(
            shift_value("20240301\\20240302", -1, false).unwrap(),
            "20240229\\20240301"
        );
        assert_eq!(
            shift_value("20240301-20240310", -1, false).unwrap(),
            "20240229-20240309"
        );
        assert!(shift_da_value("2024-03-01x", -1).is_err());
        assert!(shift_da_value("20241301", -1).is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_shifted_or_refused_never_a_panic(v in "\\PC{0,24}", dt in any::<bool>()) {
            let _ = shift_value(&v, -7, dt);
        }

        #[test]
        fn intervals_are_preserved(a in 0i64..60000, b in 0i64..60000, off in -4000i64..0) {
            let base = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
            let da = (base + Duration::days(a)).format("%Y%m%d").to_string();
            let db = (base + Duration::days(b)).format("%Y%m%d").to_string();
            let sa = NaiveDate::parse_from_str(&shift_da_value(&da, off).unwrap(), "%Y%m%d").unwrap();
            let sb = NaiveDate::parse_from_str(&shift_da_value(&db, off).unwrap(), "%Y%m%d").unwrap();
            prop_assert_eq!((sb - sa).num_days(), b - a);
            prop_assert_eq!((sa - (base + Duration::days(a))).num_days(), off);
        }
    }
}
