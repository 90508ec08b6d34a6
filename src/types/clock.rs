//! Where "now" comes from: the system clock, a fixed instant for tests and fixtures
//! (`REGWAY_SANDBOX_CLOCK`), so answers with dates and times can be compared byte for
//! byte, or — with the sandbox control API on — a clock a test harness sets and
//! advances while the gateway runs ([`Controlled`]).

use chrono::{DateTime, Months, NaiveDate, SubsecRound, Utc};
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
    Controlled(Arc<Controlled>),
}

impl Clock {
    /// Now, to the second: times on the wire carry no fractions.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now().trunc_subsecs(0),
            Clock::Fixed(t) => *t,
            Clock::Controlled(c) => c.now(),
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// A clock that can be set and advanced, starting fixed at `start` or, without
    /// one, running with the system clock.
    pub fn controlled(start: Option<DateTime<Utc>>) -> Clock {
        let start = match start {
            Some(t) => Setting::Fixed(t),
            None => Setting::Running(chrono::Duration::zero()),
        };
        Clock::Controlled(Arc::new(Controlled {
            start,
            now: RwLock::new(start),
        }))
    }

    /// The handle that sets it, when it is a controlled clock.
    pub fn control(&self) -> Option<&Controlled> {
        match self {
            Clock::Controlled(c) => Some(c),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Setting {
    /// Stands at this instant until moved.
    Fixed(DateTime<Utc>),
    /// Runs with the system clock, this far ahead of it.
    Running(chrono::Duration),
}

/// A clock moved from outside (the sandbox control API): fixed clocks stay fixed at
/// the instant they are moved to, running clocks run on from it. It never moves back,
/// except to its start by [`Controlled::restore`].
#[derive(Debug)]
pub struct Controlled {
    start: Setting,
    now: RwLock<Setting>,
}

impl Controlled {
    pub fn now(&self) -> DateTime<Utc> {
        match *self.now.read().unwrap_or_else(|p| p.into_inner()) {
            Setting::Fixed(t) => t,
            Setting::Running(ahead) => Utc::now().trunc_subsecs(0) + ahead,
        }
    }

    /// Whether it stands still between moves.
    pub fn is_fixed(&self) -> bool {
        matches!(self.start, Setting::Fixed(_))
    }

    /// Moves it to `t`; refused (with now) when `t` is before now.
    pub fn set(&self, t: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        let mut now = self.now.write().unwrap_or_else(|p| p.into_inner());
        let current = match *now {
            Setting::Fixed(t) => t,
            Setting::Running(ahead) => Utc::now().trunc_subsecs(0) + ahead,
        };
        if t < current {
            return Err(current);
        }
        *now = match *now {
            Setting::Fixed(_) => Setting::Fixed(t),
            Setting::Running(ahead) => Setting::Running(ahead + (t - current)),
        };
        Ok(())
    }

    /// Back to where it started (an empty store may begin again at the start).
    pub fn restore(&self) {
        *self.now.write().unwrap_or_else(|p| p.into_inner()) = self.start;
    }
}

/// `date` plus whole years; 29 February becomes 28 February in a common year.
pub fn add_years(date: NaiveDate, years: u32) -> Option<NaiveDate> {
    date.checked_add_months(Months::new(years.checked_mul(12)?))
}

/// Midnight UTC on the first day of month `m` of year `y` (`m` in 1..=12).
pub fn month_start(y: i32, m: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(y, m, 1)
        .expect("valid month")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controlled_clock_moves_forward_only_and_restores() {
        let start: DateTime<Utc> = "2026-01-15T10:00:00Z".parse().unwrap();
        let c = Clock::controlled(Some(start));
        assert_eq!(c.now(), start);
        let ctl = c.control().unwrap();
        let later: DateTime<Utc> = "2026-02-14T10:00:00Z".parse().unwrap();
        ctl.set(later).unwrap();
        assert_eq!(c.now(), later);
        assert_eq!(ctl.set(start), Err(later));
        assert_eq!(c.today(), later.date_naive());
        ctl.restore();
        assert_eq!(c.now(), start);

        let running = Clock::controlled(None);
        let ahead = Utc::now() + chrono::Duration::days(40);
        running.control().unwrap().set(ahead).unwrap();
        let d = running.now() - ahead.trunc_subsecs(0);
        assert!(d >= chrono::Duration::zero() && d < chrono::Duration::seconds(5));
    }
}
