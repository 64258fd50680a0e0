//! `spec.logicalBackupSchedule`: a cron schedule as Zalando's CRD accepts it (five fields, each a
//! number or `*`, with an optional `/step`). The CronJob controller would take more forms; the
//! CRD's pattern keeps manifests portable between the two operators.

use super::Errors;
use regex::Regex;
use std::sync::LazyLock;

static SCHEDULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$").expect("the schedule pattern")
});

pub fn is_schedule(s: &str) -> bool {
    SCHEDULE.is_match(s)
}

pub(super) fn check_logical_backup_schedule(schedule: Option<&str>, errs: &mut Errors) {
    if let Some(s) = schedule.filter(|s| !s.is_empty() && !is_schedule(s)) {
        errs.add(
            "spec.logicalBackupSchedule",
            format!(
                "{s:?} is not a schedule: five fields (minute hour day month weekday), each a number or *, optionally /step"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_as_zalandos_crd_takes_them() {
        for ok in ["30 00 * * *", "*/15 * * * *", "0 3 * * 0", "5\t4 1 1 1"] {
            assert!(is_schedule(ok), "{ok}");
        }
        for bad in [
            "@daily",
            "30 00 * *",
            "0-5 * * * *",
            "30 00 * * * *",
            "* * * * MON",
        ] {
            assert!(!is_schedule(bad), "{bad}");
        }
    }
}
