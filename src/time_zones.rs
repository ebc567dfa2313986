//! Time zones: which names people can choose, and dates and times shown in the viewer's zone.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use time::OffsetDateTime;

/// The zone everyone starts in until they choose (or their browser tells us) another.
pub const DEFAULT: &str = "UTC";

/// Regions of the IANA database that name real places; the rest are aliases kept for
/// old systems (`US/Eastern`, `EST5EDT`, `posix/…`), which the picker leaves out.
const REGIONS: &[&str] = &[
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
];

/// Whether `name` is a zone Pathway accepts: one the time zone database knows, spelt as the
/// database spells it (browsers send such names, including older aliases like `Asia/Calcutta`).
pub fn is_known(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with("posix/")
        && !name.starts_with("right/")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
        && TimeZone::get(name).is_ok()
}

/// The zones offered in the picker, sorted: UTC, then every `Region/City`.
pub fn choices() -> &'static [String] {
    static CHOICES: OnceLock<Vec<String>> = OnceLock::new();
    CHOICES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_string())
            .filter(|name| REGIONS.iter().any(|region| name.starts_with(region)))
            .collect();
        names.sort();
        names.dedup();
        names.insert(0, DEFAULT.to_string());
        names
    })
}

tokio::task_local! {
    /// The zone of whoever a request is for; see [`for_viewer`].
    static VIEWER: Zone;
}

/// Runs a request's handling with `zone` as the viewer's zone, as Django's time zone
/// middleware does: every date a page shows then comes out in it without each page
/// model passing the zone along.
pub async fn for_viewer<F: std::future::Future>(zone: Zone, handling: F) -> F::Output {
    VIEWER.scope(zone, handling).await
}

/// The zone of the person the current request is for (UTC outside a request).
pub fn viewer() -> Zone {
    VIEWER.try_with(Zone::clone).unwrap_or_else(|_| Zone::utc())
}

/// A viewer's zone, for showing dates and times.
#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

impl Zone {
    /// The named zone; an unknown name (a zone dropped from the database since) falls back
    /// to UTC rather than failing the page.
    pub fn named(name: &str) -> Self {
        Self(TimeZone::get(name).unwrap_or(TimeZone::UTC))
    }

    pub fn utc() -> Self {
        Self(TimeZone::UTC)
    }

    fn zoned(&self, at: OffsetDateTime) -> jiff::Zoned {
        let instant = Timestamp::from_second(at.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH);
        instant.to_zoned(self.0.clone())
    }

    /// "5 Nov 2026", the day it was where the viewer lives.
    pub fn date(&self, at: OffsetDateTime) -> String {
        self.zoned(at).strftime("%-d %b %Y").to_string()
    }

    /// "5 Nov 2026, 14:03 CET".
    pub fn date_time(&self, at: OffsetDateTime) -> String {
        self.zoned(at).strftime("%-d %b %Y, %H:%M %Z").to_string()
    }

    /// "14:03 CET".
    pub fn time(&self, at: OffsetDateTime) -> String {
        self.zoned(at).strftime("%H:%M %Z").to_string()
    }

    /// Today's date where the viewer lives.
    pub fn today(&self) -> time::Date {
        self.day_of(OffsetDateTime::now_utc())
    }

    /// The instant `day` begins where the viewer lives.
    pub fn start_of(&self, day: time::Date) -> OffsetDateTime {
        let civil = jiff::civil::date(day.year() as i16, day.month() as i8, day.day() as i8);
        civil
            .to_zoned(self.0.clone())
            .ok()
            .and_then(|start| OffsetDateTime::from_unix_timestamp(start.timestamp().as_second()).ok())
            .unwrap_or_else(|| day.midnight().assume_utc())
    }

    /// The viewer's calendar day at the instant `at`.
    pub fn day_of(&self, at: OffsetDateTime) -> time::Date {
        let day = self.zoned(at).date();
        time::Month::try_from(day.month() as u8)
            .ok()
            .and_then(|month| time::Date::from_calendar_date(day.year().into(), month, day.day() as u8).ok())
            .unwrap_or_else(|| at.date())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_and_times_follow_the_zone() {
        let at = datetime!(2026-11-29 23:30 UTC);
        assert_eq!(Zone::utc().date(at), "29 Nov 2026");
        assert_eq!(Zone::utc().date_time(at), "29 Nov 2026, 23:30 UTC");
        let tokyo = Zone::named("Asia/Tokyo");
        assert_eq!(tokyo.date(at), "30 Nov 2026");
        assert_eq!(tokyo.date_time(at), "30 Nov 2026, 08:30 JST");
        assert_eq!(tokyo.day_of(at), time::macros::date!(2026 - 11 - 30));
        // Summer time is applied by date, not by a fixed offset.
        let paris = Zone::named("Europe/Paris");
        assert_eq!(
            paris.date_time(datetime!(2026-07-01 12:00 UTC)),
            "1 Jul 2026, 14:00 CEST"
        );
        assert_eq!(
            paris.date_time(datetime!(2026-01-01 12:00 UTC)),
            "1 Jan 2026, 13:00 CET"
        );
        assert_eq!(
            tokyo.start_of(time::macros::date!(2026 - 11 - 30)),
            datetime!(2026-11-29 15:00 UTC)
        );
    }

    #[test]
    fn only_real_zone_names_are_known() {
        assert!(is_known("Europe/Paris"));
        assert!(is_known("UTC"));
        assert!(is_known("America/Argentina/Buenos_Aires"));
        assert!(!is_known(""));
        assert!(!is_known("Mars/Olympus_Mons"));
        assert!(!is_known("../../etc/passwd"));
        assert!(!is_known("posix/Europe/Paris"));
        assert_eq!(
            Zone::named("Nowhere/Special").date_time(time::macros::datetime!(2026-01-01 0:00 UTC)),
            "1 Jan 2026, 00:00 UTC"
        );
        let choices = choices();
        assert_eq!(choices[0], "UTC");
        assert!(choices.iter().any(|c| c == "Asia/Kolkata"));
        assert!(!choices.iter().any(|c| c.starts_with("posix/") || c == "EST5EDT"));
    }
}
