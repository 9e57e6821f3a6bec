//! `smt plot`: PNG pictures of one meter's data, read from the extension's views.
//!
//! - `smt plot heatmap`: a load-profile heat map from `smt.interval`: one column per operating
//!   day (Central local dates), time of day down the column in Central local time (00:00 at the
//!   top, 24:00 at the bottom), the colour the kWh of each interval.
//! - `smt plot daily`: daily import and export bars and a net line from `smt.daily_usage`, days
//!   with estimated or missing intervals marked.
//!
//! Values are read as text (`kwh::text`) and parsed as exact decimals ([`smt_core::Decimal`]):
//! sums, the maximum and the summary printed to stderr are exact, and each value becomes an
//! `f64` (Rust's correctly rounded parse of the same text) only to place pixels.
//!
//! The picture is drawn in memory with plotters' bitmap backend and written as PNG through a
//! temporary file renamed into place: an error (unknown ESIID, no data in the range, no font)
//! leaves no file, and never an empty picture. Text needs a TrueType/OpenType font read at run
//! time: `SMT_PLOT_FONT`, else Debian's fonts-dejavu-core.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use clap::Subcommand;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use smt_core::time::{self as central, TimeBasis};
use smt_core::{Decimal, DecimalSum};
use smt_scheduler::db;
use smt_scheduler::text::printable;
use tokio_postgres::Client;

use super::common::MeterDays;

/// The font file for text (TrueType or OpenType); default [`DEFAULT_FONT`].
pub const FONT_ENV: &str = "SMT_PLOT_FONT";
/// Debian's fonts-dejavu-core.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Titles, when the default font is used and its bold face is there too.
const DEFAULT_BOLD_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
/// The longest range one picture draws (ten years).
const MAX_DAYS: usize = 3653;
/// Heat-map cells without a value.
const NO_VALUE: RGBColor = RGBColor(200, 200, 200);

const FONT_HELP: &str = "Text is drawn with the font file named by SMT_PLOT_FONT (TrueType or \
                         OpenType), else /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf (Debian \
                         package fonts-dejavu-core). A summary of what was drawn (days, \
                         intervals, exact kWh) goes to stderr.";

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    picture: Picture,
}

#[derive(Subcommand)]
enum Picture {
    /// Load-profile heat map (smt.interval): x the operating day, y the time of day in Central
    /// local time (00:00 at the top), colour the kWh of each interval. On the spring-forward day
    /// 02:00-03:00 stays blank; on the fall-back day the repeated 01:00-02:00 is split in two
    /// halves (left: first pass, CDT; right: the repeat, CST).
    #[command(after_help = FONT_HELP)]
    Heatmap {
        #[command(flatten)]
        common: Common,
        /// ERCOT channel: 4 consumption, 1 surplus generation.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i16).range(0..))]
        channel: i16,
    },
    /// Daily usage (smt.daily_usage): import bars up, export bars down, a net line; days with
    /// estimated or missing intervals marked.
    #[command(after_help = FONT_HELP)]
    Daily {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    range: MeterDays,
    /// Picture width in pixels.
    #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(300..=8000))]
    width: u32,
    /// Picture height in pixels.
    #[arg(long, default_value_t = 800, value_parser = clap::value_parser!(u32).range(200..=8000))]
    height: u32,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let common = match &args.picture {
        Picture::Heatmap { common, .. } | Picture::Daily { common } => common,
    };
    if common.range.from > common.range.to {
        bail!(
            "--from {} is after --to {}",
            common.range.from,
            common.range.to
        );
    }
    if common.range.days().len() > MAX_DAYS {
        bail!(
            "{} to {} is more than {MAX_DAYS} days: draw at most ten years at a time",
            common.range.from,
            common.range.to
        );
    }
    // The font first: a missing font is found before any work is done.
    load_fonts()?;
    let (_, url) = common.range.db.load()?;
    let client = db::connect(&url).await?;
    // As the loader stores it: spaces and a spreadsheet apostrophe removed.
    let esiid: Option<String> = client
        .query_one("SELECT smt.esiid_normalize($1)", &[&common.range.esiid])
        .await
        .context("normalizing the ESIID")?
        .try_get(0)?;
    let Some(esiid) = esiid.filter(|e| !e.is_empty()) else {
        bail!(
            "--esiid {:?} is not an ESIID",
            printable(&common.range.esiid)
        );
    };
    match args.picture {
        Picture::Heatmap { common, channel } => heatmap(&client, &common, &esiid, channel).await?,
        Picture::Daily { common } => daily(&client, &common, &esiid).await?,
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Fonts.

/// Registers the font file as plotters' "sans-serif" (the family every text here uses).
fn load_fonts() -> Result<()> {
    let (normal, bold) = match std::env::var_os(FONT_ENV).filter(|v| !v.is_empty()) {
        Some(path) => (PathBuf::from(path), None),
        None => (
            PathBuf::from(DEFAULT_FONT),
            Some(Path::new(DEFAULT_BOLD_FONT)),
        ),
    };
    register_font(&normal, FontStyle::Normal).with_context(|| {
        format!(
            "no font for the picture's text: set {FONT_ENV} to a TrueType or OpenType font file \
             (default {DEFAULT_FONT}, Debian package fonts-dejavu-core)"
        )
    })?;
    // Without a bold face, titles use the normal one.
    if let Some(bold) = bold.filter(|b| b.exists()) {
        let _ = register_font(bold, FontStyle::Bold);
    }
    Ok(())
}

fn register_font(path: &Path, style: FontStyle) -> Result<()> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the font file {}", path.display()))?;
    // plotters keeps registered fonts for the life of the process; this one short-lived command
    // registers each file once, so the copy is leaked on purpose.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", style, bytes)
        .map_err(|_| anyhow!("{} is not a TrueType or OpenType font", path.display()))
}

/// Text sizes in pixels, from the picture's size.
#[derive(Clone, Copy)]
struct Sizes {
    /// Labels.
    s: f64,
}

impl Sizes {
    fn new(width: u32, height: u32) -> Sizes {
        Sizes {
            s: (f64::from(width.min(height)) / 50.0).clamp(10.0, 26.0),
        }
    }

    /// `k` times the label size, in whole pixels.
    fn px(self, k: f64) -> u32 {
        (self.s * k).round() as u32
    }

    fn text(self, k: f64) -> TextStyle<'static> {
        TextStyle::from(FontDesc::new(
            FontFamily::SansSerif,
            self.s * k,
            FontStyle::Normal,
        ))
        .color(&BLACK)
    }

    fn bold(self, k: f64) -> TextStyle<'static> {
        TextStyle::from(FontDesc::new(
            FontFamily::SansSerif,
            self.s * k,
            FontStyle::Bold,
        ))
        .color(&BLACK)
    }
}

// ---------------------------------------------------------------------------------------------
// Values.

/// A kWh value as the database wrote it, exactly, and as a float for drawing only.
#[derive(Clone)]
struct Kwh {
    text: String,
    exact: Decimal,
    draw: f64,
}

impl Kwh {
    fn parse(text: String) -> Result<Kwh> {
        let exact = Decimal::parse_str(&text)
            .with_context(|| format!("a kWh value the database returned: {text:?}"))?;
        // Correctly rounded, from the same text: only for placing pixels.
        let draw: f64 = text
            .parse()
            .with_context(|| format!("a kWh value the database returned: {text:?}"))?;
        Ok(Kwh { text, exact, draw })
    }

    fn parse_opt(text: Option<String>) -> Result<Option<Kwh>> {
        text.map(Kwh::parse).transpose()
    }

    fn is_above(&self, other: &Kwh) -> bool {
        self.exact.cmp_value(other.exact).is_gt()
    }
}

/// Writes the error to return when nothing was found: the ESIID is unknown, or has no data in
/// the range (with the days it has).
async fn no_data(
    client: &Client,
    esiid: &str,
    what: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Error {
    let known = client
        .query_one(
            "SELECT count(*), min(day), max(day) FROM smt.daily_usage WHERE esiid = $1",
            &[&esiid],
        )
        .await;
    let esiid = printable(esiid);
    match known {
        Ok(row) if row.get::<_, i64>(0) == 0 => anyhow!(
            "ESIID {esiid} has no data in the database (no day in smt.daily_usage): check the \
             ESIID; nothing was drawn"
        ),
        Ok(row) => {
            let (days, first, last): (i64, NaiveDate, NaiveDate) =
                (row.get(0), row.get(1), row.get(2));
            anyhow!(
                "ESIID {esiid} has no {what} from {from} to {to} (its data: {days} days from \
                 {first} to {last}); nothing was drawn"
            )
        }
        Err(e) => anyhow::Error::new(e).context(format!(
            "ESIID {esiid} has no {what} from {from} to {to}; nothing was drawn"
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The heat map.

struct Interval {
    day: NaiveDate,
    start: DateTime<Utc>,
    seconds: i64,
    kwh: Option<Kwh>,
    estimated: bool,
}

/// Where an interval is drawn: wall-clock hours after local midnight (top and bottom of the
/// cell) and the part of the day's column (0 to 1) it takes.
struct Cell {
    top: f64,
    bottom: f64,
    left: f64,
    right: f64,
}

/// The cell of the interval of `day` starting at `start` and lasting `seconds`.
///
/// The y axis is wall-clock time for every day, so DST days are drawn as the clock showed them:
/// on the spring-forward day 02:00-03:00 never happens and stays blank (a 92-slot day); on the
/// fall-back day 01:00-02:00 happens twice (a 100-slot day), and both passes are drawn in that
/// hour of the day's column side by side: the first (CDT, UTC-5) in the left half, the repeat
/// (CST, UTC-6) in the right half. No value is hidden and no hour is stretched.
fn cell(day: NaiveDate, start: DateTime<Utc>, seconds: i64) -> Cell {
    let central = TimeBasis::CentralPrevailing;
    let wall = central.to_local(start);
    let top = (wall - day.and_time(NaiveTime::MIN)).num_seconds() as f64 / 3600.0;
    let hour = Duration::hours(1);
    let (left, right) = if central.to_local(start + hour) == wall {
        (0.0, 0.5) // the same clock time comes again an hour later: first pass
    } else if central.to_local(start - hour) == wall {
        (0.5, 1.0) // the clock showed this an hour ago: the repeat
    } else {
        (0.0, 1.0)
    };
    Cell {
        top,
        bottom: top + seconds as f64 / 3600.0,
        left,
        right,
    }
}

/// "13:15 CST": the wall-clock time of an instant with its zone.
fn wall_clock(start: DateTime<Utc>) -> String {
    let wall = TimeBasis::CentralPrevailing.to_local(start);
    let zone = if (wall - start.naive_utc()) == Duration::hours(-5) {
        "CDT"
    } else {
        "CST"
    };
    format!("{} {zone}", wall.format("%Y-%m-%d %H:%M"))
}

fn channel_name(channel: i16) -> String {
    match channel {
        4 => "channel 4 (consumption)".to_owned(),
        1 => "channel 1 (surplus generation)".to_owned(),
        c => format!("channel {c}"),
    }
}

async fn heatmap(client: &Client, args: &Common, esiid: &str, channel: i16) -> Result<()> {
    let rows = client
        .query(
            "SELECT day, interval_start, interval_end, kwh::text, status = 'E'
               FROM smt.interval
              WHERE esiid = $1 AND channel = $2 AND day BETWEEN $3 AND $4
              ORDER BY day, interval_start",
            &[&esiid, &channel, &args.range.from, &args.range.to],
        )
        .await
        .context("reading smt.interval")?;
    if rows.is_empty() {
        let what = format!("{} intervals", channel_name(channel));
        return Err(no_data(client, esiid, &what, args.range.from, args.range.to).await);
    }
    let mut intervals = Vec::with_capacity(rows.len());
    for r in &rows {
        let start: DateTime<Utc> = r.try_get(1)?;
        let end: DateTime<Utc> = r.try_get(2)?;
        intervals.push(Interval {
            day: r.try_get(0)?,
            start,
            seconds: (end - start).num_seconds(),
            kwh: Kwh::parse_opt(r.try_get(3)?)?,
            estimated: r.try_get::<_, Option<bool>>(4)?.unwrap_or(false),
        });
    }

    // What is drawn, exactly.
    let mut days_with_data: Vec<NaiveDate> = intervals.iter().map(|i| i.day).collect();
    days_with_data.dedup();
    let values: Vec<(&Interval, &Kwh)> = intervals
        .iter()
        .filter_map(|i| i.kwh.as_ref().map(|k| (i, k)))
        .collect();
    let mut max: Option<(&Interval, &Kwh)> = None;
    let mut min: Option<&Kwh> = None;
    for &(i, k) in &values {
        if max.is_none_or(|(_, m)| k.is_above(m)) {
            max = Some((i, k));
        }
        if min.is_none_or(|m| m.is_above(k)) {
            min = Some(k);
        }
    }
    let estimated = intervals.iter().filter(|i| i.estimated).count();
    let mut summary = format!(
        "smt plot heatmap: ESIID {} {}, {} to {} (Central dates): days={} intervals={} values={} \
         missing={} estimated={}",
        printable(esiid),
        channel_name(channel),
        args.range.from,
        args.range.to,
        days_with_data.len(),
        intervals.len(),
        values.len(),
        intervals.len() - values.len(),
        estimated,
    );
    match (max, min) {
        (Some((at, max)), Some(min)) => write!(
            summary,
            " max_kwh={} (at {}) min_kwh={}",
            max.text,
            wall_clock(at.start),
            min.text
        )?,
        _ => summary.push_str(" max_kwh=none min_kwh=none"),
    }

    // The colour scale: from 0 (or a lower value) to the largest value.
    let lo = min.map_or(0.0, |m| m.draw.min(0.0));
    let hi = max.map_or(1.0, |(_, m)| m.draw);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    // The interval length (the shortest seen) of the "no value" grid under the values.
    let usual_seconds = intervals
        .iter()
        .map(|i| i.seconds)
        .filter(|s| *s > 0 && 86_400 % *s == 0)
        .min()
        .unwrap_or(900);

    let days = args.range.days();
    let spring = days.iter().any(|d| central::day_seconds(*d) < 86_400);
    let fall = days.iter().any(|d| central::day_seconds(*d) > 86_400);
    let title = format!(
        "Load profile: kWh per interval, ESIID {}, {}, {} to {}",
        printable(esiid),
        channel_name(channel),
        args.range.from,
        args.range.to
    );
    let (w, h) = (args.width, args.height);
    let z = Sizes::new(w, h);
    let mut buf = vec![0u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut legend = vec![Entry::new(
            Symbol::Swatch(NO_VALUE),
            "no value (missing or not loaded)",
        )];
        if spring {
            legend.push(Entry::new(
                Symbol::Swatch(WHITE),
                "clock time that does not exist (spring forward)",
            ));
        }
        if fall {
            legend.push(Entry::new(
                Symbol::Note,
                "Fall-back day: 01:00-02:00 happens twice; its column shows the first pass \
                 (CDT) in the left half and the repeat (CST) in the right half.",
            ));
        }
        let body = frame(&root, z, &title, &legend)?;
        let (left, right) = body.split_horizontally(w.saturating_sub(z.px(8.5)));
        let mut chart = ChartBuilder::on(&left)
            .margin_top(z.px(2.0))
            .margin_left(z.px(0.6))
            .margin_right(z.px(0.6))
            .margin_bottom(z.px(0.6))
            .x_label_area_size(z.px(3.4))
            .y_label_area_size(z.px(6.0))
            .build_cartesian_2d(0f64..days.len() as f64, -24f64..0f64)?;
        let index = |day: NaiveDate| (day - args.range.from).num_days() as f64;
        let rect = |x: f64, c: &Cell| [(x + c.left, -c.top), (x + c.right, -c.bottom)];

        // Every clock time of every day in the range first as "no value", then the values.
        let mut background = Vec::new();
        for day in &days {
            let first = central::day_start(*day);
            let slots = central::day_seconds(*day) / usual_seconds;
            for slot in 0..slots {
                let start = first + Duration::seconds(slot * usual_seconds);
                background.push(rect(index(*day), &cell(*day, start, usual_seconds)));
            }
        }
        chart.draw_series(
            background
                .into_iter()
                .map(|r| Rectangle::new(r, NO_VALUE.filled())),
        )?;
        chart.draw_series(values.iter().map(|(i, k)| {
            let colour = ViridisRGB::get_color_normalized(k.draw, lo, hi);
            Rectangle::new(
                rect(index(i.day), &cell(i.day, i.start, i.seconds)),
                colour.filled(),
            )
        }))?;
        // Thin white lines between days when the columns are wide enough to show them.
        let plot = chart.plotting_area().get_pixel_range();
        let column = f64::from(plot.0.end - plot.0.start) / days.len() as f64;
        if column >= 12.0 {
            chart.draw_series((1..days.len()).map(|d| {
                PathElement::new(
                    vec![(d as f64, 0.0), (d as f64, -24.0)],
                    WHITE.stroke_width(1),
                )
            }))?;
        }
        // A white line between the two passes of the repeated hour on fall-back days.
        chart.draw_series(
            days.iter()
                .filter(|d| central::day_seconds(**d) > 86_400)
                .map(|d| {
                    let x = index(*d) + 0.5;
                    PathElement::new(vec![(x, -1.0), (x, -2.0)], WHITE.stroke_width(1))
                }),
        )?;
        border(&root, &plot)?;
        day_axis(&root, z, &days, &plot, "Operating day (Central local date)")?;
        hour_axis(&root, z, &plot)?;
        colour_bar(&right, z, &plot, lo, hi, usual_seconds)?;

        root.present()?;
    }
    write_png(&args.range.out, w, h, &buf)?;
    eprintln!("{summary}; wrote {} ({w}x{h})", args.range.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The daily chart.

struct Day {
    day: NaiveDate,
    import: Option<Kwh>,
    export: Option<Kwh>,
    net: Kwh,
    present: i32,
    estimated: i32,
    missing: i32,
}

async fn daily(client: &Client, args: &Common, esiid: &str) -> Result<()> {
    let rows = client
        .query(
            "SELECT day, import_kwh::text, export_kwh::text, net_kwh::text,
                    intervals_present, intervals_estimated, intervals_missing
               FROM smt.daily_usage
              WHERE esiid = $1 AND day BETWEEN $2 AND $3
              ORDER BY day",
            &[&esiid, &args.range.from, &args.range.to],
        )
        .await
        .context("reading smt.daily_usage")?;
    if rows.is_empty() {
        return Err(no_data(client, esiid, "daily usage", args.range.from, args.range.to).await);
    }
    let mut data = Vec::with_capacity(rows.len());
    for r in &rows {
        data.push(Day {
            day: r.try_get(0)?,
            import: Kwh::parse_opt(r.try_get(1)?)?,
            export: Kwh::parse_opt(r.try_get(2)?)?,
            net: Kwh::parse(r.try_get(3)?)?,
            present: r.try_get(4)?,
            estimated: r.try_get(5)?,
            missing: r.try_get(6)?,
        });
    }

    // What is drawn, exactly.
    let sum = |f: &dyn Fn(&Day) -> Option<&Kwh>| -> String {
        let values: Vec<Decimal> = data.iter().filter_map(|d| f(d).map(|k| k.exact)).collect();
        if values.is_empty() {
            "none".to_owned()
        } else {
            values.into_iter().sum::<DecimalSum>().to_string()
        }
    };
    let mut max_import: Option<(&Day, &Kwh)> = None;
    for d in &data {
        if let Some(k) = &d.import {
            if max_import.is_none_or(|(_, m)| k.is_above(m)) {
                max_import = Some((d, k));
            }
        }
    }
    let estimated_days = data.iter().filter(|d| d.estimated > 0).count();
    let missing_days = data.iter().filter(|d| d.missing > 0).count();
    let summary = format!(
        "smt plot daily: ESIID {}, {} to {} (Central dates): days={} intervals={} estimated={} \
         missing={} import_kwh={} export_kwh={} net_kwh={} max_import_kwh={} estimated_days={} \
         days_with_missing={}",
        printable(esiid),
        args.range.from,
        args.range.to,
        data.len(),
        data.iter().map(|d| i64::from(d.present)).sum::<i64>(),
        data.iter().map(|d| i64::from(d.estimated)).sum::<i64>(),
        data.iter().map(|d| i64::from(d.missing)).sum::<i64>(),
        sum(&|d| d.import.as_ref()),
        sum(&|d| d.export.as_ref()),
        sum(&|d| Some(&d.net)),
        max_import.map_or_else(
            || "none".to_owned(),
            |(d, k)| format!("{} (on {})", k.text, d.day)
        ),
        estimated_days,
        missing_days,
    );

    // y range: every bar and the net line, 0 included, with room for the markers.
    let draw = |k: &Option<Kwh>| k.as_ref().map_or(0.0, |k| k.draw);
    let top = data
        .iter()
        .map(|d| draw(&d.import).max(d.net.draw))
        .fold(0.0, f64::max);
    let bottom = data
        .iter()
        .map(|d| (-draw(&d.export)).min(d.net.draw))
        .fold(0.0, f64::min);
    let span = if top > bottom { top - bottom } else { 1.0 };
    let (y0, y1) = (
        if bottom < 0.0 {
            bottom - 0.06 * span
        } else {
            0.0
        },
        top + 0.14 * span,
    );

    let days = args.range.days();
    let title = format!(
        "Daily usage, kWh per day, ESIID {}, {} to {}",
        printable(esiid),
        args.range.from,
        args.range.to
    );
    let (w, h) = (args.width, args.height);
    let z = Sizes::new(w, h);
    let import_colour = RGBColor(31, 119, 180);
    let export_colour = RGBColor(44, 160, 44);
    let estimated_colour = RGBColor(214, 39, 40);
    let missing_colour = RGBColor(90, 90, 90);
    let mut buf = vec![0u8; (w as usize) * (h as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let legend = [
            Entry::new(Symbol::Swatch(import_colour), "import (channel 4)"),
            Entry::new(
                Symbol::Swatch(export_colour),
                "export (channel 1, drawn below 0)",
            ),
            Entry::new(Symbol::Line, "net (import - export)"),
            Entry::new(Symbol::Triangle(estimated_colour), "estimated intervals"),
            Entry::new(Symbol::Cross(missing_colour), "missing intervals"),
        ];
        let body = frame(&root, z, &title, &legend)?;
        let mut chart = ChartBuilder::on(&body)
            .margin_top(z.px(1.2))
            .margin_left(z.px(0.6))
            .margin_right(z.px(1.5))
            .margin_bottom(z.px(0.6))
            .x_label_area_size(z.px(3.4))
            .y_label_area_size(z.px(6.0))
            .build_cartesian_2d(0f64..days.len() as f64, y0..y1)?;
        let decimals = if span >= 50.0 {
            0
        } else if span >= 5.0 {
            1
        } else {
            2
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .x_labels(0)
            .y_labels(10)
            .y_label_formatter(&|v| format!("{v:.decimals$}"))
            .y_desc("kWh per day")
            .label_style(z.text(1.0))
            .axis_desc_style(z.text(1.0))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(TRANSPARENT)
            .draw()?;
        let index = |day: NaiveDate| (day - args.range.from).num_days() as f64;
        let (bar_left, bar_right) = (0.15, 0.85);
        chart.draw_series(data.iter().filter_map(|d| {
            let k = d.import.as_ref()?;
            let x = index(d.day);
            Some(Rectangle::new(
                [(x + bar_left, 0.0), (x + bar_right, k.draw)],
                import_colour.filled(),
            ))
        }))?;
        chart.draw_series(data.iter().filter_map(|d| {
            let k = d.export.as_ref()?;
            let x = index(d.day);
            Some(Rectangle::new(
                [(x + bar_left, 0.0), (x + bar_right, -k.draw)],
                export_colour.filled(),
            ))
        }))?;
        // The zero line.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 0.0), (days.len() as f64, 0.0)],
            BLACK.stroke_width(1),
        )))?;
        // The net line, broken where days are missing.
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut previous: Option<NaiveDate> = None;
        for d in &data {
            if previous.is_none_or(|p| p.succ_opt() != Some(d.day)) {
                runs.push(Vec::new());
            }
            if let Some(run) = runs.last_mut() {
                run.push((index(d.day) + 0.5, d.net.draw));
            }
            previous = Some(d.day);
        }
        let net_style = BLACK.stroke_width(2);
        for run in runs {
            chart.draw_series(LineSeries::new(run, net_style))?;
        }
        let dot = z.px(0.3).max(2);
        chart.draw_series(
            data.iter()
                .map(|d| Circle::new((index(d.day) + 0.5, d.net.draw), dot, BLACK.filled())),
        )?;
        // Markers above the day's highest point.
        let mark = z.px(0.45).max(3);
        let lift = |steps: i32| -(z.px(0.9) as i32) * steps;
        chart.draw_series(data.iter().filter(|d| d.estimated > 0).map(|d| {
            let y = draw(&d.import).max(d.net.draw).max(0.0);
            EmptyElement::at((index(d.day) + 0.5, y))
                + TriangleMarker::new((0, lift(1)), mark, estimated_colour.filled())
        }))?;
        chart.draw_series(data.iter().filter(|d| d.missing > 0).map(|d| {
            let y = draw(&d.import).max(d.net.draw).max(0.0);
            let steps = if d.estimated > 0 { 2 } else { 1 };
            EmptyElement::at((index(d.day) + 0.5, y))
                + Cross::new((0, lift(steps)), mark, missing_colour.stroke_width(2))
        }))?;
        let plot = chart.plotting_area().get_pixel_range();
        border(&root, &plot)?;
        day_axis(&root, z, &days, &plot, "Operating day (Central local date)")?;

        root.present()?;
    }
    write_png(&args.range.out, w, h, &buf)?;
    eprintln!("{summary}; wrote {} ({w}x{h})", args.range.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shared drawing: the title and legend rows, axes, the colour bar, the PNG file.

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Pixels = (std::ops::Range<i32>, std::ops::Range<i32>);

/// Draws the title and the legend rows at the bottom; returns the area left for the chart.
fn frame<'a>(root: &Area<'a>, z: Sizes, title: &str, legend: &[Entry]) -> Result<Area<'a>> {
    let (w, h) = root.dim_in_pixel();
    // The title shrinks until it fits the width.
    let mut k = 1.4;
    let mut style = z.bold(k);
    while k > 0.6 && root.estimate_text_size(title, &style)?.0 + z.px(3.0) > w {
        k -= 0.05;
        style = z.bold(k);
    }
    let title_h = z.px(2.4);
    root.draw(&Text::new(
        title.to_owned(),
        (w as i32 / 2, title_h as i32 / 2),
        style.pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let rows = legend_rows(root, z, legend)?;
    let row_h = z.px(1.6);
    let legend_h = row_h * rows.len() as u32 + z.px(0.6);
    let text = z.text(0.95);
    for (r, row) in rows.iter().enumerate() {
        let y = (h - legend_h + z.px(0.9) + row_h * r as u32) as i32;
        for (symbol, label, x) in row {
            symbol.draw(root, z, (*x, y))?;
            root.draw(&Text::new(
                label.clone(),
                (x + symbol.width(z), y),
                text.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }
    Ok(root.margin(title_h, legend_h, 0, 0))
}

/// What a legend entry shows before its text.
#[derive(Clone, Copy)]
enum Symbol {
    Swatch(RGBColor),
    /// The net line: black with a dot.
    Line,
    Triangle(RGBColor),
    Cross(RGBColor),
    /// None: a note, text only, on rows of its own (wrapped at words).
    Note,
}

struct Entry {
    symbol: Symbol,
    text: String,
}

impl Entry {
    fn new(symbol: Symbol, text: &str) -> Entry {
        Entry {
            symbol,
            text: text.to_owned(),
        }
    }
}

impl Symbol {
    fn marker_size(z: Sizes) -> u32 {
        z.px(0.45).max(3)
    }

    /// Its width with the space before the text.
    fn width(self, z: Sizes) -> i32 {
        let symbol = match self {
            Symbol::Swatch(_) => z.px(1.0),
            Symbol::Line => z.px(1.8),
            Symbol::Triangle(_) | Symbol::Cross(_) => 2 * Symbol::marker_size(z),
            Symbol::Note => return 0,
        };
        (symbol + z.px(0.5)) as i32
    }

    /// Draws the symbol from `x`, centred on `y`.
    fn draw(self, root: &Area, z: Sizes, (x, y): (i32, i32)) -> Result<()> {
        let size = Symbol::marker_size(z);
        match self {
            Symbol::Swatch(fill) => {
                let side = z.px(1.0) as i32;
                let corners = [(x, y - side / 2), (x + side, y + side / 2)];
                root.draw(&Rectangle::new(corners, fill.filled()))?;
                root.draw(&Rectangle::new(
                    corners,
                    RGBColor(120, 120, 120).stroke_width(1),
                ))?;
            }
            Symbol::Line => {
                let len = z.px(1.8) as i32;
                root.draw(&PathElement::new(
                    vec![(x, y), (x + len, y)],
                    BLACK.stroke_width(2),
                ))?;
                root.draw(&Circle::new(
                    (x + len / 2, y),
                    z.px(0.3).max(2),
                    BLACK.filled(),
                ))?;
            }
            Symbol::Triangle(c) => {
                root.draw(&TriangleMarker::new((x + size as i32, y), size, c.filled()))?
            }
            Symbol::Cross(c) => {
                root.draw(&Cross::new((x + size as i32, y), size, c.stroke_width(2)))?
            }
            Symbol::Note => {}
        }
        Ok(())
    }
}

/// The legend laid out in rows no wider than the picture: (symbol, text, x) per entry.
fn legend_rows(
    root: &Area,
    z: Sizes,
    entries: &[Entry],
) -> Result<Vec<Vec<(Symbol, String, i32)>>> {
    let (w, _) = root.dim_in_pixel();
    let (x0, max_x, gap) = (z.px(1.0) as i32, (w - z.px(1.0)) as i32, z.px(1.8) as i32);
    let style = z.text(0.95);
    let mut rows = Vec::new();
    let mut row: Vec<(Symbol, String, i32)> = Vec::new();
    let mut x = x0;
    for e in entries {
        if let Symbol::Note = e.symbol {
            if !row.is_empty() {
                rows.push(std::mem::take(&mut row));
            }
            let mut line = String::new();
            for word in e.text.split_whitespace() {
                let longer = if line.is_empty() {
                    word.to_owned()
                } else {
                    format!("{line} {word}")
                };
                if !line.is_empty()
                    && x0 + root.estimate_text_size(&longer, &style)?.0 as i32 > max_x
                {
                    rows.push(vec![(Symbol::Note, std::mem::take(&mut line), x0)]);
                    line = word.to_owned();
                } else {
                    line = longer;
                }
            }
            if !line.is_empty() {
                rows.push(vec![(Symbol::Note, line, x0)]);
            }
            x = x0;
            continue;
        }
        let width = e.symbol.width(z) + root.estimate_text_size(&e.text, &style)?.0 as i32;
        if x + width > max_x && !row.is_empty() {
            rows.push(std::mem::take(&mut row));
            x = x0;
        }
        row.push((e.symbol, e.text.clone(), x));
        x += width + gap;
    }
    if !row.is_empty() {
        rows.push(row);
    }
    Ok(rows)
}

fn border(root: &Area, plot: &Pixels) -> Result<()> {
    root.draw(&Rectangle::new(
        [
            (plot.0.start, plot.1.start),
            (plot.0.end - 1, plot.1.end - 1),
        ],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

/// Day labels under the plot (day `i` centred on `i + 0.5`) and the axis name: every day, or
/// every few days, while they fit; else the first day of every month (or of every few months, or
/// of every few years).
fn day_axis(root: &Area, z: Sizes, days: &[NaiveDate], plot: &Pixels, name: &str) -> Result<()> {
    let (x0, x1) = (plot.0.start, plot.0.end);
    let bottom = plot.1.end;
    let per_day = f64::from(x1 - x0) / days.len() as f64;
    let style = z.text(0.95);
    let width = |text: &str| -> Result<f64> {
        Ok(f64::from(root.estimate_text_size(text, &style)?.0) + z.s)
    };
    let format = if days.len() <= 14 {
        "%a %b %-d"
    } else {
        "%b %-d"
    };
    let daily = |d: &NaiveDate| {
        let mut text = d.format(format).to_string();
        match central::day_seconds(*d) {
            s if s < 86_400 => text.push_str(" (23 h)"),
            s if s > 86_400 => text.push_str(" (25 h)"),
            _ => {}
        }
        text
    };
    let mut widest: f64 = 0.0;
    for d in days {
        widest = widest.max(width(&daily(d))?);
    }
    let step = (widest / per_day).ceil().max(1.0) as usize;
    let mut labels: Vec<(usize, String)> = if step <= 7 {
        days.iter()
            .enumerate()
            .step_by(step)
            .map(|(i, d)| (i, daily(d)))
            .collect()
    } else {
        let month = width("May 2025")?;
        match [1, 2, 3, 6, 12]
            .into_iter()
            .find(|m| per_day * 28.0 * f64::from(*m) >= month)
        {
            Some(m) => days
                .iter()
                .enumerate()
                .filter(|(_, d)| d.day() == 1 && d.month0() % m == 0)
                .map(|(i, d)| (i, d.format("%b %Y").to_string()))
                .collect(),
            None => {
                let years = (width("2025")? / (per_day * 365.0)).ceil().max(1.0) as i32;
                days.iter()
                    .enumerate()
                    .filter(|(_, d)| d.ordinal() == 1 && d.year() % years == 0)
                    .map(|(i, d)| (i, d.format("%Y").to_string()))
                    .collect()
            }
        }
    };
    if labels.is_empty() {
        labels.push((0, daily(&days[0])));
    }
    let tick = z.px(0.35) as i32;
    for (i, label) in labels {
        let x = x0 + ((i as f64 + 0.5) * per_day).round() as i32;
        root.draw(&PathElement::new(
            vec![(x, bottom), (x, bottom + tick)],
            BLACK.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            label,
            (x, bottom + tick + z.px(0.9) as i32),
            style.clone().pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    root.draw(&Text::new(
        name.to_owned(),
        ((x0 + x1) / 2, bottom + z.px(2.6) as i32),
        z.text(1.0).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// Clock-time labels left of the heat map (00:00 at the top) and the axis name.
fn hour_axis(root: &Area, z: Sizes, plot: &Pixels) -> Result<()> {
    let (left, top, bottom) = (plot.0.start, plot.1.start, plot.1.end);
    let per_hour = f64::from(bottom - top) / 24.0;
    let step = [1, 2, 3, 4, 6, 12]
        .into_iter()
        .find(|s| per_hour * f64::from(*s) >= z.s * 1.6)
        .unwrap_or(24);
    let tick = z.px(0.35) as i32;
    let style = z.text(0.95);
    for hour in (0..=24).step_by(step as usize) {
        let y = top + (f64::from(hour) * per_hour).round() as i32;
        root.draw(&PathElement::new(
            vec![(left - tick, y), (left, y)],
            BLACK.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            format!("{hour:02}:00"),
            (left - tick - z.px(0.3) as i32, y),
            style.pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    root.draw(&Text::new(
        "Time of day (Central local time)".to_owned(),
        (left - z.px(4.8) as i32, (top + bottom) / 2),
        z.text(1.0)
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// The colour scale right of the heat map, as tall as its plot.
fn colour_bar(
    area: &Area,
    z: Sizes,
    plot: &Pixels,
    lo: f64,
    hi: f64,
    interval_seconds: i64,
) -> Result<()> {
    let (_, ay) = area.get_base_pixel();
    let (aw, _) = area.dim_in_pixel();
    let top = (plot.1.start - ay).max(0) as u32;
    let (_, ah) = area.dim_in_pixel();
    let bottom = ah.saturating_sub((plot.1.end - ay).max(0) as u32);
    let mut bar = ChartBuilder::on(area)
        .margin_top(top)
        .margin_bottom(bottom)
        .margin_left(z.px(0.8))
        .margin_right(z.px(0.4))
        .right_y_label_area_size(aw.saturating_sub(z.px(2.4)))
        .build_cartesian_2d(0f64..1f64, lo..hi)?;
    let steps = 200;
    bar.draw_series((0..steps).map(|i| {
        let a = lo + (hi - lo) * f64::from(i) / f64::from(steps);
        let b = lo + (hi - lo) * f64::from(i + 1) / f64::from(steps);
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            ViridisRGB::get_color_normalized((a + b) / 2.0, lo, hi).filled(),
        )
    }))?;
    let span = hi - lo;
    let decimals = if span >= 50.0 {
        0
    } else if span >= 5.0 {
        1
    } else if span >= 0.5 {
        2
    } else {
        3
    };
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .x_labels(0)
        .y_labels(8)
        .y_label_formatter(&|v| format!("{v:.decimals$}"))
        .label_style(z.text(0.9))
        .draw()?;
    let bar_px: Pixels = bar.plotting_area().get_pixel_range();
    let unit = if interval_seconds == 900 {
        "kWh / 15 min".to_owned()
    } else {
        format!("kWh / {} min", interval_seconds / 60)
    };
    // Centred on the area (the labels beside the bar make it wider than the bar).
    area.draw(&Text::new(
        unit,
        (aw as i32 / 2, bar_px.1.start - ay - z.px(0.9) as i32),
        z.text(0.9).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// Writes the RGB picture as PNG to `out`, through a temporary file in the same directory.
fn write_png(out: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let write = || -> Result<()> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".smt-plot-").suffix(".png");
        // A picture, not a secret: readable as any new file is (0666 less the umask), not
        // the temporary file's 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(dir)?;
        {
            let mut encoder = png::Encoder::new(std::io::BufWriter::new(&mut tmp), width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(rgb)?;
            writer.finish()?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(out)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn dst_days_are_drawn_in_clock_time() {
        let fall = NaiveDate::from_ymd_opt(2025, 11, 2).unwrap();
        // 01:00 CDT (06:00Z) and 01:00 CST (07:00Z): the same clock hour, side by side.
        let first = cell(fall, utc("2025-11-02T06:00:00Z"), 900);
        let repeat = cell(fall, utc("2025-11-02T07:00:00Z"), 900);
        assert_eq!((first.top, first.left, first.right), (1.0, 0.0, 0.5));
        assert_eq!((repeat.top, repeat.left, repeat.right), (1.0, 0.5, 1.0));
        // 00:45 CDT and 02:00 CST take the whole width.
        let before = cell(fall, utc("2025-11-02T05:45:00Z"), 900);
        let after = cell(fall, utc("2025-11-02T08:00:00Z"), 900);
        assert_eq!((before.top, before.left, before.right), (0.75, 0.0, 1.0));
        assert_eq!((after.top, after.left, after.right), (2.0, 0.0, 1.0));
        assert_eq!(after.bottom, 2.25);

        let spring = NaiveDate::from_ymd_opt(2025, 3, 9).unwrap();
        // 01:45 CST ends at 02:00; the next interval starts at 03:00 CDT: 02:00-03:00 is blank.
        let last = cell(spring, utc("2025-03-09T07:45:00Z"), 900);
        let next = cell(spring, utc("2025-03-09T08:00:00Z"), 900);
        assert_eq!((last.top, last.bottom), (1.75, 2.0));
        assert_eq!((next.top, next.left, next.right), (3.0, 0.0, 1.0));
    }

    #[test]
    fn zones_are_named() {
        assert_eq!(
            wall_clock(utc("2025-11-02T06:15:00Z")),
            "2025-11-02 01:15 CDT"
        );
        assert_eq!(
            wall_clock(utc("2025-11-02T07:15:00Z")),
            "2025-11-02 01:15 CST"
        );
    }

    #[test]
    fn values_stay_exact() {
        let a = Kwh::parse("0.580".to_owned()).unwrap();
        let b = Kwh::parse("0.58".to_owned()).unwrap();
        assert!(!a.is_above(&b) && !b.is_above(&a));
        assert_eq!(a.text, "0.580");
        assert!(Kwh::parse("1e3".to_owned()).is_err());
    }
}
