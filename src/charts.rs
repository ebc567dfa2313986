//! Server-rendered SVG charts for the dashboard, each with a text equivalent.

use std::collections::HashMap;
use std::fmt::Write;

use time::{Date, Duration, Weekday};

/// Skills completed per week, oldest week first.
#[derive(Debug, Clone)]
pub struct WeeklyChart {
    /// (Monday of the week, completions).
    pub weeks: Vec<(Date, u32)>,
}

/// Days with activity over the last year.
#[derive(Debug, Clone)]
pub struct YearHeatmap {
    /// Every day from the Monday 52 weeks back to today, with its count.
    pub days: Vec<(Date, u32)>,
}

fn monday_of(date: Date) -> Date {
    date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
}

fn short(date: Date) -> String {
    format!("{} {}", date.day(), &date.month().to_string()[..3])
}

impl WeeklyChart {
    /// The last `count` weeks up to `today`, filled from (week start, completions) rows.
    pub fn new(today: Date, count: usize, rows: &[(Date, u32)]) -> Self {
        let by_week: HashMap<Date, u32> = rows.iter().map(|(d, n)| (monday_of(*d), *n)).collect();
        let this_week = monday_of(today);
        let weeks = (0..count)
            .rev()
            .map(|back| {
                let week = this_week - Duration::weeks(back as i64);
                (week, by_week.get(&week).copied().unwrap_or(0))
            })
            .collect();
        Self { weeks }
    }

    pub fn total(&self) -> u32 {
        self.weeks.iter().map(|(_, n)| n).sum()
    }

    pub fn label(week: Date) -> String {
        format!("Week of {}", short(week))
    }

    /// A bar chart; the table on the page carries the same numbers.
    pub fn svg(&self) -> String {
        let (bar, gap, height, top) = (16u32, 4u32, 120u32, 14u32);
        let max = self.weeks.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let width = self.weeks.len() as u32 * (bar + gap);
        let mut svg = format!(
            r#"<svg class="chart chart-weekly" viewBox="0 0 {width} {}" role="img" aria-labelledby="weekly_title weekly_desc" xmlns="http://www.w3.org/2000/svg"><title id="weekly_title">Skills completed per week</title><desc id="weekly_desc">{} skills completed in the last {} weeks; the table below lists each week.</desc>"#,
            height + top + 16,
            self.total(),
            self.weeks.len()
        );
        let _ = write!(
            svg,
            r#"<line class="chart-axis" x1="0" y1="{0}" x2="{width}" y2="{0}"/>"#,
            height + top
        );
        for (i, (week, count)) in self.weeks.iter().enumerate() {
            let h = count * height / max;
            let x = i as u32 * (bar + gap);
            let y = top + height - h;
            let _ = write!(
                svg,
                r#"<rect class="chart-bar" x="{x}" y="{y}" width="{bar}" height="{h}"><title>{}: {count}</title></rect>"#,
                Self::label(*week)
            );
            if *count > 0 {
                let _ = write!(
                    svg,
                    r#"<text class="chart-value" x="{}" y="{}" text-anchor="middle">{count}</text>"#,
                    x + bar / 2,
                    y.saturating_sub(3)
                );
            }
            if i % 4 == 0 {
                let _ = write!(
                    svg,
                    r#"<text class="chart-tick" x="{x}" y="{}">{}</text>"#,
                    height + top + 13,
                    short(*week)
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

impl YearHeatmap {
    /// 53 weeks of days ending `today`, filled from (day, count) rows.
    pub fn new(today: Date, rows: &[(Date, u32)]) -> Self {
        let by_day: HashMap<Date, u32> = rows.iter().copied().collect();
        let start = monday_of(today) - Duration::weeks(52);
        let mut days = Vec::new();
        let mut day = start;
        while day <= today {
            days.push((day, by_day.get(&day).copied().unwrap_or(0)));
            day = day.next_day().expect("dates stay in range");
        }
        Self { days }
    }

    pub fn active_days(&self) -> usize {
        self.days.iter().filter(|(_, n)| *n > 0).count()
    }

    /// The longest run of consecutive active days.
    pub fn longest_streak(&self) -> usize {
        let (mut best, mut run) = (0, 0);
        for (_, n) in &self.days {
            run = if *n > 0 { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    }

    /// Active days per month, oldest first, for the text equivalent.
    pub fn months(&self) -> Vec<(String, usize)> {
        let mut months: Vec<(String, usize)> = Vec::new();
        for (day, n) in &self.days {
            let name = format!("{} {}", day.month(), day.year());
            match months.last_mut() {
                Some((last, count)) if *last == name => *count += usize::from(*n > 0),
                _ => months.push((name, usize::from(*n > 0))),
            }
        }
        months
    }

    fn level(count: u32) -> u8 {
        match count {
            0 => 0,
            1 => 1,
            2..=3 => 2,
            4..=6 => 3,
            _ => 4,
        }
    }

    /// A week-per-column grid, GitHub style.
    pub fn svg(&self) -> String {
        let cell = 11u32;
        let step = cell + 2;
        let weeks = self.days.len().div_ceil(7) as u32;
        let mut svg = format!(
            r#"<svg class="chart chart-heatmap" viewBox="0 0 {} {}" role="img" aria-labelledby="heat_title heat_desc" xmlns="http://www.w3.org/2000/svg"><title id="heat_title">Days with activity in the last year</title><desc id="heat_desc">Active on {} days; longest streak {} days. The list below gives active days per month.</desc>"#,
            weeks * step + 24,
            7 * step + 14,
            self.active_days(),
            self.longest_streak()
        );
        for (i, (day, count)) in self.days.iter().enumerate() {
            let x = 24 + (i as u32 / 7) * step;
            let y = 14 + u32::from(day.weekday().number_days_from_monday()) * step;
            let _ = write!(
                svg,
                r#"<rect class="heat heat-{}" x="{x}" y="{y}" width="{cell}" height="{cell}" rx="2"><title>{}: {count}</title></rect>"#,
                Self::level(*count),
                short(*day)
            );
            if day.day() == 1 {
                let _ = write!(
                    svg,
                    r#"<text class="chart-tick" x="{x}" y="10">{}</text>"#,
                    &day.month().to_string()[..3]
                );
            }
        }
        for (row, name) in [(0u32, "Mon"), (2, "Wed"), (4, "Fri")] {
            let _ = write!(
                svg,
                r#"<text class="chart-tick" x="0" y="{}">{name}</text>"#,
                14 + row * step + 9
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// Today's date in UTC.
pub fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// Whether `date` is a Monday (weeks start on Monday).
pub fn is_week_start(date: Date) -> bool {
    date.weekday() == Weekday::Monday
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn weeks_are_filled_and_ordered() {
        let today = date!(2026 - 11 - 22); // a Sunday
        let chart = WeeklyChart::new(
            today,
            26,
            &[(date!(2026 - 11 - 16), 3), (date!(2026 - 11 - 02), 1)],
        );
        assert_eq!(chart.weeks.len(), 26);
        assert_eq!(chart.weeks.last().unwrap(), &(date!(2026 - 11 - 16), 3));
        assert!(chart.weeks.iter().all(|(d, _)| is_week_start(*d)));
        assert_eq!(chart.total(), 4);
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>Week of 16 Nov: 3</title>"));
        assert!(svg.contains("4 skills completed in the last 26 weeks"));
    }

    #[test]
    fn the_heatmap_covers_a_year_and_counts_streaks() {
        let today = date!(2026 - 11 - 22);
        let rows = [
            (date!(2026 - 11 - 20), 1),
            (date!(2026 - 11 - 21), 5),
            (date!(2026 - 11 - 22), 2),
            (date!(2026 - 10 - 01), 1),
        ];
        let map = YearHeatmap::new(today, &rows);
        assert_eq!(map.days.first().unwrap().0.weekday(), Weekday::Monday);
        assert_eq!(map.days.last().unwrap().0, today);
        assert_eq!(map.active_days(), 4);
        assert_eq!(map.longest_streak(), 3);
        assert_eq!(map.months().last().unwrap(), &("November 2026".to_string(), 3));
        let svg = map.svg();
        assert!(svg.contains(r#"class="heat heat-3""#));
        assert!(svg.contains("<title>21 Nov: 5</title>"));
    }
}
