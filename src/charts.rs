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

/// The dashboard's charts and the markup of its "Your activity" section, built once per
/// kept copy of the rows they show (`view_cache`): formatting a year of cells and their
/// tables was most of the cost of a dashboard whose rows were kept.
#[derive(Debug)]
pub struct DashboardCharts {
    pub weekly: WeeklyChart,
    pub heatmap: YearHeatmap,
    /// `templates/progress/_activity.html` filled from the two charts.
    pub activity: String,
}

#[derive(askama::Template)]
#[template(path = "progress/_activity.html")]
struct ActivitySection<'a> {
    weekly: &'a WeeklyChart,
    heatmap: &'a YearHeatmap,
}

impl DashboardCharts {
    /// The last `weeks` weeks of completions and the year of active days up to `today`.
    pub fn new(
        today: Date,
        weeks: usize,
        completions_per_week: &[(Date, u32)],
        activity_per_day: &[(Date, u32)],
    ) -> askama::Result<Self> {
        use askama::Template;
        let weekly = WeeklyChart::new(today, weeks, completions_per_week);
        let heatmap = YearHeatmap::new(today, activity_per_day);
        let activity = ActivitySection {
            weekly: &weekly,
            heatmap: &heatmap,
        }
        .render()?;
        Ok(Self {
            weekly,
            heatmap,
            activity,
        })
    }
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

    /// Completions in the current (last) week.
    pub fn this_week(&self) -> u32 {
        self.weeks.last().map_or(0, |(_, n)| *n)
    }

    /// The bar chart of every week, for wide screens; the table on the page carries the
    /// same numbers.
    pub fn svg(&self) -> String {
        self.render(&self.weeks, "weekly", Bars::WIDE)
    }

    /// The last `weeks` weeks with larger type, for phones (the page shows one or the
    /// other by width: `.chart-wide` and `.chart-compact` in style.css).
    pub fn svg_recent(&self, weeks: usize) -> String {
        let recent = &self.weeks[self.weeks.len().saturating_sub(weeks)..];
        self.render(recent, "weekly_recent", Bars::COMPACT)
    }

    fn render(&self, weeks: &[(Date, u32)], id: &str, size: Bars) -> String {
        let Bars {
            bar,
            gap,
            height,
            font,
            tick_every,
        } = size;
        let top = font + 6;
        let bottom = font + 8;
        let max = weeks.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let width = weeks.len() as u32 * (bar + gap) - gap;
        let full = top + height + bottom;
        let total: u32 = weeks.iter().map(|(_, n)| n).sum();
        let mut svg = format!(
            r#"<svg class="chart chart-weekly" width="{width}" height="{full}" viewBox="0 0 {width} {full}" role="img" aria-labelledby="{id}_title {id}_desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}_title">Skills completed per week</title><desc id="{id}_desc">{total} skills completed in the last {} weeks; the table below lists each week.</desc>"#,
            weeks.len()
        );
        for (i, (week, count)) in weeks.iter().enumerate() {
            let h = count * height / max;
            // Something done never draws as nothing.
            let h = if *count > 0 { h.max(2) } else { h };
            let x = i as u32 * (bar + gap);
            let y = top + height - h;
            // A faint track behind every bar gives an empty week its place in the row.
            let _ = write!(
                svg,
                r#"<rect class="chart-track" x="{x}" y="{top}" width="{bar}" height="{height}" rx="3"/><rect class="chart-bar" x="{x}" y="{y}" width="{bar}" height="{h}" rx="3"><title>{}: {count}</title></rect>"#,
                Self::label(*week)
            );
            if *count > 0 {
                let _ = write!(
                    svg,
                    r#"<text class="chart-value" x="{}" y="{}" text-anchor="middle" font-size="{font}">{count}</text>"#,
                    x + bar / 2,
                    y - 4
                );
            }
            // Ticks count back from this week, so the latest week is always named; the
            // last one ends at its bar's right edge, to stay inside the chart.
            if (weeks.len() - 1 - i).is_multiple_of(tick_every) {
                let (tick_x, anchor) = if i + 1 == weeks.len() {
                    (x + bar, "end")
                } else {
                    (x + bar / 2, "middle")
                };
                let _ = write!(
                    svg,
                    r#"<text class="chart-tick" x="{tick_x}" y="{}" text-anchor="{anchor}" font-size="{font}">{}</text>"#,
                    top + height + font + 4,
                    short(*week)
                );
            }
        }
        svg.push_str("</svg>");
        svg
    }
}

/// Bar chart geometry, in SVG units (pixels at natural size).
#[derive(Debug, Clone, Copy)]
struct Bars {
    bar: u32,
    gap: u32,
    height: u32,
    font: u32,
    tick_every: usize,
}

impl Bars {
    /// 26 weeks in 926 units: 13 px type up to about 60 % scale.
    const WIDE: Self = Self {
        bar: 26,
        gap: 10,
        height: 120,
        font: 13,
        tick_every: 4,
    };
    /// 12 weeks in 304 units: fits a 360 px screen at about its natural size.
    const COMPACT: Self = Self {
        bar: 18,
        gap: 8,
        height: 110,
        font: 12,
        tick_every: 3,
    };
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

    /// The current run of active days, ending today or yesterday.
    pub fn current_streak(&self) -> usize {
        let mut days = self.days.iter().rev().peekable();
        // Today may not have started yet: a run that ended yesterday still counts.
        if days.peek().is_some_and(|(_, n)| *n == 0) {
            days.next();
        }
        days.take_while(|(_, n)| *n > 0).count()
    }

    /// The whole year, a column per week (GitHub style), for wide screens.
    pub fn svg(&self) -> String {
        self.render(&self.days, "heat", Cells::WIDE)
    }

    /// The last `weeks` weeks, for phones (the page shows one or the other by width).
    pub fn svg_recent(&self, weeks: usize) -> String {
        // Whole weeks: start on the Monday `weeks - 1` weeks before this one.
        let first = self
            .days
            .len()
            .saturating_sub((self.days.len() - 1) % 7 + 1 + (weeks - 1) * 7);
        self.render(&self.days[first..], "heat_recent", Cells::COMPACT)
    }

    fn render(&self, days: &[(Date, u32)], id: &str, size: Cells) -> String {
        let Cells { cell, font } = size;
        let step = cell + 2;
        let (left, top) = (font * 3, font + 6);
        let weeks = days.len().div_ceil(7) as u32;
        let active = days.iter().filter(|(_, n)| *n > 0).count();
        let (width, height) = (weeks * step + left, 7 * step + top);
        let mut svg = format!(
            r#"<svg class="chart chart-heatmap" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}_title {id}_desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}_title">Days with activity, last {} weeks</title><desc id="{id}_desc">Active on {active} days; longest streak in the year {} days. The list below gives active days per month.</desc>"#,
            weeks,
            self.longest_streak()
        );
        for (i, (day, count)) in days.iter().enumerate() {
            let x = left + (i as u32 / 7) * step;
            let y = top + u32::from(day.weekday().number_days_from_monday()) * step;
            let _ = write!(
                svg,
                r#"<rect class="heat heat-{}" x="{x}" y="{y}" width="{cell}" height="{cell}" rx="2"><title>{}: {count}</title></rect>"#,
                Self::level(*count),
                short(*day)
            );
            // A month is named above its first week, if there is room before the edge.
            if day.day() <= 7 && day.weekday() == Weekday::Monday && x + 3 * step <= width {
                let _ = write!(
                    svg,
                    r#"<text class="chart-tick" x="{x}" y="{}" font-size="{font}">{}</text>"#,
                    font + 1,
                    &day.month().to_string()[..3]
                );
            }
        }
        for (row, name) in [(0u32, "Mon"), (2, "Wed"), (4, "Fri")] {
            let _ = write!(
                svg,
                r#"<text class="chart-tick" x="0" y="{}" font-size="{font}">{name}</text>"#,
                top + row * step + cell - 2
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

/// Heat map geometry, in SVG units (pixels at natural size).
#[derive(Debug, Clone, Copy)]
struct Cells {
    cell: u32,
    font: u32,
}

impl Cells {
    /// 53 weeks in about 830 units.
    const WIDE: Self = Self { cell: 13, font: 11 };
    /// 22 weeks in about 300 units: fits a 360 px screen at about its natural size.
    const COMPACT: Self = Self { cell: 11, font: 10 };
}

/// Today's date in the viewer's time zone.
pub fn today() -> Date {
    crate::time_zones::viewer().today()
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
        assert_eq!(map.current_streak(), 3);
    }

    /// The phone versions show fewer weeks at about their natural size, so that their
    /// type stays readable at 360 px, and name other ids than the wide ones.
    #[test]
    fn phone_charts_show_the_latest_weeks_and_fit_a_phone() {
        let today = date!(2026 - 11 - 19); // a Thursday
        let chart = WeeklyChart::new(
            today,
            26,
            &[(date!(2026 - 11 - 16), 3), (date!(2026 - 05 - 25), 2)],
        );
        let recent = chart.svg_recent(12);
        assert!(recent.contains(r#"<title>Week of 16 Nov: 3</title>"#));
        assert!(!recent.contains("Week of 25 May"), "older weeks are left out");
        assert!(recent.contains("3 skills completed in the last 12 weeks"));
        assert!(recent.contains(r#"id="weekly_recent_title""#) && !recent.contains(r#"id="weekly_title""#));
        let width = |svg: &str| -> u32 {
            let at = svg.find(r#"width=""#).unwrap() + 7;
            svg[at..].split('"').next().unwrap().parse().unwrap()
        };
        assert!(width(&recent) <= 320, "{}", width(&recent));
        assert_eq!(chart.this_week(), 3);

        let rows = [
            (date!(2026 - 11 - 18), 1),
            (date!(2026 - 11 - 17), 1),
            (date!(2026 - 01 - 05), 4),
        ];
        let map = YearHeatmap::new(today, &rows);
        let recent = map.svg_recent(22);
        assert!(width(&recent) <= 320, "{}", width(&recent));
        assert_eq!(
            recent.matches("<rect").count(),
            21 * 7 + 4,
            "21 whole weeks and this one's 4 days"
        );
        assert!(recent.contains("<title>18 Nov: 1</title>") && !recent.contains("<title>5 Jan: 4</title>"));
        assert!(map.svg().contains("<title>5 Jan: 4</title>"));
        assert_eq!(
            map.current_streak(),
            2,
            "today is not over: the run up to yesterday counts"
        );
    }
}
