//! Where "now" comes from: the system clock, or a fixed instant for tests and fixtures
//! (`REGWAY_SANDBOX_CLOCK`), so answers with dates and times can be compared byte for byte.

use chrono::{DateTime, Months, NaiveDate, SubsecRound, Utc};

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// Now, to the second: times on the wire carry no fractions.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now().trunc_subsecs(0),
            Clock::Fixed(t) => *t,
        }
    }

    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
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
