//! `spec.maintenanceWindows`: when disruptive work may happen, in UTC.
//!
//! Zalando's forms: `HH:MM-HH:MM` (every day) and `Ddd:HH:MM-HH:MM` (one weekday; the weekday is
//! written once, before the start). A window cannot cross midnight: the end must not be before
//! the start. Parsing is public so the planner can use the same reading of a window.

use super::Errors;

/// Weekday abbreviations, Monday first.
pub const WEEKDAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A parsed maintenance window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Index into [`WEEKDAYS`] (0 = Monday); `None` means every day.
    pub weekday: Option<u8>,
    /// Minutes after midnight, UTC.
    pub start: u16,
    /// Minutes after midnight, UTC; never before `start`.
    pub end: u16,
}

/// Parses a window. The error is a complete message.
pub fn parse_maintenance_window(s: &str) -> Result<MaintenanceWindow, String> {
    let format_error = || {
        format!(
            "invalid maintenance window {s:?}: expected HH:MM-HH:MM or Ddd:HH:MM-HH:MM \
             (Ddd one of {}), in UTC",
            WEEKDAYS.join(", ")
        )
    };
    let (from, to) = s.split_once('-').ok_or_else(format_error)?;
    let (weekday, from) = match from.split(':').count() {
        3 => {
            let (day, time) = from.split_once(':').ok_or_else(format_error)?;
            let index = WEEKDAYS.iter().position(|d| *d == day).ok_or_else(|| {
                format!(
                    "invalid weekday {day:?} in maintenance window {s:?}; allowed: {}",
                    WEEKDAYS.join(", ")
                )
            })?;
            (Some(index as u8), time)
        }
        2 => (None, from),
        _ => return Err(format_error()),
    };
    if to.split(':').count() != 2 {
        return Err(format_error());
    }
    let start = parse_time(from, s)?;
    let end = parse_time(to, s)?;
    if end < start {
        return Err(format!(
            "maintenance window {s:?} ends before it starts; a window cannot cross midnight \
             (split it in two)"
        ));
    }
    Ok(MaintenanceWindow {
        weekday,
        start,
        end,
    })
}

/// `HH:MM` (two digits each, 00:00-23:59) to minutes after midnight.
fn parse_time(t: &str, window: &str) -> Result<u16, String> {
    let bad = || {
        format!(
            "invalid time {t:?} in maintenance window {window:?}: expected HH:MM from 00:00 to 23:59"
        )
    };
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Checks every window, reporting each by index.
pub(super) fn check_windows(windows: &[String], errs: &mut Errors) {
    for (i, w) in windows.iter().enumerate() {
        if let Err(msg) = parse_maintenance_window(w) {
            errs.add(format!("spec.maintenanceWindows[{i}]"), msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            parse_maintenance_window("01:00-06:00"),
            Ok(MaintenanceWindow {
                weekday: None,
                start: 60,
                end: 360
            })
        );
        assert_eq!(
            parse_maintenance_window("Sat:00:00-04:00"),
            Ok(MaintenanceWindow {
                weekday: Some(5),
                start: 0,
                end: 240
            })
        );
        assert_eq!(
            parse_maintenance_window("Sun:23:59-23:59").map(|w| (w.weekday, w.start, w.end)),
            Ok((Some(6), 1439, 1439))
        );
        assert!(parse_maintenance_window("00:00-23:59").is_ok());
    }

    #[test]
    fn rejects_bad_windows() {
        for s in [
            "",
            "01:00",
            "1:00-02:00",
            "01:0-02:00",
            "24:00-24:00",
            "00:60-01:00",
            "Mon:01:00-Mon:02:00",
            "mon:01:00-02:00",
            "Monday:01:00-02:00",
            "01:00-02:00-03:00",
            "06:00-01:00",
            " 01:00-02:00",
            "01:00-02:00 Z",
        ] {
            assert!(parse_maintenance_window(s).is_err(), "{s:?}");
        }
        assert_eq!(
            parse_maintenance_window("Mo:01:00-02:00").unwrap_err(),
            "invalid weekday \"Mo\" in maintenance window \"Mo:01:00-02:00\"; allowed: Mon, Tue, \
             Wed, Thu, Fri, Sat, Sun"
        );
        assert_eq!(
            parse_maintenance_window("22:00-02:00").unwrap_err(),
            "maintenance window \"22:00-02:00\" ends before it starts; a window cannot cross \
             midnight (split it in two)"
        );
        assert_eq!(
            parse_maintenance_window("25:00-26:00").unwrap_err(),
            "invalid time \"25:00\" in maintenance window \"25:00-26:00\": expected HH:MM from \
             00:00 to 23:59"
        );
    }

    #[test]
    fn reports_by_index() {
        let mut errs = Errors::default();
        check_windows(&["01:00-02:00".into(), "bad".into()], &mut errs);
        let errs = errs.into_sorted();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "spec.maintenanceWindows[1]");
    }
}
