//! Cloud recordings: `list_recordings` (follows `next_page_token` until
//! Zoom says there is no more) and the `new_recording` trigger.
//!
//! The trigger's cursor remembers the recordings already reported
//! (`seen`: uuid → start time) and the newest start time (`high_water`).
//! Each poll asks Zoom for recordings from one day before the high-water
//! mark (recordings of earlier meetings can finish processing later), never
//! more than 30 days back (Zoom's range limit), and reports uuids not seen
//! yet. Entries older than the queried range are pruned, so the cursor stays
//! small. The pure parts ([`Cursor`], [`Date`], [`collect_pages`]) are
//! tested natively.

use std::collections::BTreeMap;

use plugboard_sdk::prelude::*;
use serde_json::Value;

use crate::errors::check;

/// Zoom's largest page.
pub const MAX_PAGE_SIZE: u32 = 300;
/// Pages followed at most in one call (the host also caps HTTP calls).
pub const MAX_PAGES: usize = 100;
/// How far before the high-water mark each poll looks again.
pub const LOOKBACK_DAYS: i64 = 1;
/// Zoom refuses ranges longer than a month.
pub const MAX_RANGE_DAYS: i64 = 30;

/// Input of `list_recordings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRecordings {
    /// First day (UTC), `YYYY-MM-DD`; Zoom's default when absent.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day (UTC), `YYYY-MM-DD`; today when absent.
    #[serde(default)]
    pub to: Option<String>,
    /// Page size asked of Zoom (1–300, default 300).
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// Output of `list_recordings`: every meeting with recordings, all pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recordings {
    /// Meetings with their `recording_files`, as Zoom returns them.
    pub meetings: Vec<Value>,
    /// How many meetings were returned.
    pub total_records: usize,
}

/// One page of `GET /users/me/recordings`.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    /// The page's meetings.
    #[serde(default)]
    pub meetings: Vec<Value>,
    /// Empty or absent on the last page.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// `list_recordings`.
///
/// # Errors
/// Bad dates or page size ([`ConnectorError::InvalidInput`]), or Zoom's
/// error.
pub fn list_recordings(input: ListRecordings) -> Result<Recordings, ConnectorError> {
    for (name, value) in [("from", &input.from), ("to", &input.to)] {
        if let Some(value) = value {
            Date::parse(value).ok_or_else(|| {
                ConnectorError::invalid_input(format!(
                    "`{name}` must be a date YYYY-MM-DD, got `{value}`"
                ))
            })?;
        }
    }
    let page_size = input.page_size.unwrap_or(MAX_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ConnectorError::invalid_input(format!(
            "`page_size` must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    let meetings = collect_pages(|token| {
        fetch_page(input.from.as_deref(), input.to.as_deref(), page_size, token)
    })?;
    Ok(Recordings {
        total_records: meetings.len(),
        meetings,
    })
}

fn fetch_page(
    from: Option<&str>,
    to: Option<&str>,
    page_size: u32,
    next_page_token: Option<&str>,
) -> Result<Page, ConnectorError> {
    let request = Request::get("/users/me/recordings")
        .query("page_size", page_size.to_string())
        .query_opt("from", from)
        .query_opt("to", to)
        .query_opt("next_page_token", next_page_token);
    check(request.send()?)?.json()
}

/// Fetch pages with `fetch(next_page_token)` until the token is empty,
/// concatenating the meetings.
///
/// # Errors
/// The first fetch error; [`ConnectorError::Provider`] when Zoom repeats a
/// token or the pages exceed [`MAX_PAGES`] (a loop, not data).
pub fn collect_pages(
    mut fetch: impl FnMut(Option<&str>) -> Result<Page, ConnectorError>,
) -> Result<Vec<Value>, ConnectorError> {
    let mut meetings = Vec::new();
    let mut token: Option<String> = None;
    let mut tokens_seen = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = fetch(token.as_deref())?;
        meetings.extend(page.meetings);
        match page.next_page_token.filter(|t| !t.is_empty()) {
            None => return Ok(meetings),
            Some(next) if tokens_seen.contains(&next) => {
                return Err(ConnectorError::provider(
                    None,
                    None,
                    format!("Zoom returned the page token `{next}` twice; stopping"),
                ));
            }
            Some(next) => {
                tokens_seen.push(next.clone());
                token = Some(next);
            }
        }
    }
    Err(ConnectorError::provider(
        None,
        None,
        format!("Zoom returned more than {MAX_PAGES} pages of recordings; narrow `from`/`to`"),
    ))
}

/// The `new_recording` trigger's state between polls.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest meeting start time seen (RFC 3339, UTC).
    #[serde(default)]
    pub high_water: Option<String>,
    /// Recordings already reported (or present at the first poll):
    /// meeting uuid → start time.
    #[serde(default)]
    pub seen: BTreeMap<String, String>,
}

impl Cursor {
    /// The first day to ask Zoom for: a day before the high-water mark (or
    /// before today on the first poll), and at most 30 days back.
    pub fn window_start(&self, today: Date) -> Date {
        let floor = today.add_days(-MAX_RANGE_DAYS);
        let start = self
            .high_water
            .as_deref()
            .and_then(Date::parse)
            .unwrap_or(today)
            .add_days(-LOOKBACK_DAYS);
        start.max(floor)
    }

    /// Take one poll's meetings: return the events for meetings not seen
    /// before (oldest first) and the next cursor. On the first poll
    /// (`first`) nothing is reported: what exists is only remembered.
    ///
    /// # Errors
    /// [`ConnectorError::Internal`] if an event cannot be serialized.
    pub fn advance(
        mut self,
        meetings: Vec<Value>,
        today: Date,
        first: bool,
    ) -> Result<(Vec<Event>, Cursor), ConnectorError> {
        let mut new = Vec::new();
        for meeting in meetings {
            let Some(uuid) = meeting["uuid"].as_str().map(str::to_owned) else {
                continue;
            };
            let start = meeting["start_time"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if self.seen.contains_key(&uuid) {
                continue;
            }
            self.seen.insert(uuid.clone(), start.clone());
            if self
                .high_water
                .as_deref()
                .is_none_or(|hw| start.as_str() > hw)
            {
                self.high_water = Some(start.clone());
            }
            new.push((start, uuid, meeting));
        }
        let window = self.window_start(today);
        self.seen
            .retain(|_, start| Date::parse(start).is_none_or(|date| date >= window));
        if first {
            return Ok((Vec::new(), self));
        }
        new.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let events = new
            .into_iter()
            .map(|(start, uuid, meeting)| {
                Event::new(uuid, Some(start).filter(|s| !s.is_empty()), &meeting)
            })
            .collect::<Result<_, _>>()?;
        Ok((events, self))
    }
}

/// Poll `new_recording`.
///
/// # Errors
/// A cursor that is not this connector's ([`ConnectorError::InvalidInput`]),
/// or Zoom's error.
pub fn poll_new_recordings(cursor: Option<&str>) -> Result<PollResult, ConnectorError> {
    let first = cursor.is_none();
    let cursor: Cursor = match cursor {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ConnectorError::invalid_input(format!("not a new_recording cursor: {e}"))
        })?,
        None => Cursor::default(),
    };
    let today = Date::today();
    let from = cursor.window_start(today).to_string();
    let meetings = collect_pages(|token| fetch_page(Some(&from), None, MAX_PAGE_SIZE, token))?;
    let (events, next) = cursor.advance(meetings, today, first)?;
    let next = serde_json::to_string(&next)
        .map_err(|e| ConnectorError::internal(format!("cannot serialize cursor: {e}")))?;
    Ok(PollResult {
        events,
        next_cursor: Some(next),
    })
}

/// A calendar date (UTC), enough for Zoom's `from`/`to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    days_since_epoch: i64,
}

impl Date {
    /// Parse `YYYY-MM-DD`, or the date part of an RFC 3339 time.
    pub fn parse(text: &str) -> Option<Self> {
        let date = text.get(..10)?;
        let mut parts = date.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
            return None;
        }
        Some(Self {
            days_since_epoch: days_from_civil(y, m, d),
        })
    }

    /// Today (UTC), from the host's wall clock.
    pub fn today() -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self {
            days_since_epoch: seconds.div_euclid(86_400),
        }
    }

    /// This date moved by `days`.
    pub fn add_days(self, days: i64) -> Self {
        Self {
            days_since_epoch: self.days_since_epoch + days,
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = civil_from_days(self.days_since_epoch);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// JSON Schema of `list_recordings`' input.
pub fn list_input_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "from": {"type": "string", "format": "date", "description": "First day (UTC), YYYY-MM-DD"},
            "to": {"type": "string", "format": "date", "description": "Last day (UTC), YYYY-MM-DD"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
        }
    })
}

/// JSON Schema of `list_recordings`' output.
pub fn list_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["meetings", "total_records"],
        "properties": {
            "meetings": {"type": "array", "items": meeting_schema()},
            "total_records": {"type": "integer"}
        }
    })
}

/// JSON Schema of one meeting with recordings (also the trigger's event).
pub fn meeting_schema() -> Value {
    json!({
        "type": "object",
        "required": ["uuid"],
        "properties": {
            "uuid": {"type": "string"},
            "id": {"type": "integer"},
            "topic": {"type": "string"},
            "start_time": {"type": "string", "format": "date-time"},
            "duration": {"type": "integer"},
            "share_url": {"type": "string"},
            "recording_files": {"type": "array", "items": {"type": "object"}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(uuid: &str, start: &str) -> Value {
        json!({"uuid": uuid, "id": 1, "topic": uuid, "start_time": start})
    }

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn pages_are_followed_until_the_token_is_empty() {
        let mut asked = Vec::new();
        let meetings = collect_pages(|token| {
            asked.push(token.map(str::to_owned));
            Ok(match token {
                None => Page {
                    meetings: vec![meeting("a", "2026-01-01T10:00:00Z")],
                    next_page_token: Some("p2".into()),
                },
                Some("p2") => Page {
                    meetings: vec![meeting("b", "2026-01-02T10:00:00Z")],
                    next_page_token: Some(String::new()),
                },
                Some(other) => panic!("unexpected token {other}"),
            })
        })
        .unwrap();
        assert_eq!(meetings.len(), 2);
        assert_eq!(asked, [None, Some("p2".to_owned())]);
    }

    #[test]
    fn a_repeated_page_token_stops_with_an_error() {
        let err = collect_pages(|_| {
            Ok(Page {
                meetings: vec![],
                next_page_token: Some("same".into()),
            })
        })
        .unwrap_err();
        assert!(matches!(err, ConnectorError::Provider(p) if p.message.contains("twice")));
    }

    #[test]
    fn fetch_errors_pass_through() {
        let err = collect_pages(|_| Err(ConnectorError::unauthorized("no"))).unwrap_err();
        assert!(matches!(err, ConnectorError::Unauthorized(_)));
    }

    #[test]
    fn dates_parse_format_and_move() {
        assert_eq!(date("2026-03-01").add_days(-1).to_string(), "2026-02-28");
        assert_eq!(date("2024-03-01").add_days(-1).to_string(), "2024-02-29");
        assert_eq!(date("2026-01-02T10:00:00Z").to_string(), "2026-01-02");
        assert_eq!(date("1970-01-01").add_days(0).days_since_epoch, 0);
        assert!(Date::parse("2026-02-30").is_none());
        assert!(Date::parse("26-1-1").is_none());
    }

    #[test]
    fn first_poll_reports_nothing_but_remembers_what_exists() {
        let today = date("2026-01-05");
        let (events, cursor) = Cursor::default()
            .advance(vec![meeting("a", "2026-01-04T10:00:00Z")], today, true)
            .unwrap();
        assert!(events.is_empty());
        assert_eq!(cursor.high_water.as_deref(), Some("2026-01-04T10:00:00Z"));
        assert!(cursor.seen.contains_key("a"));
    }

    #[test]
    fn later_polls_report_only_unseen_recordings_oldest_first() {
        let today = date("2026-01-05");
        let (_, cursor) = Cursor::default()
            .advance(vec![meeting("a", "2026-01-04T10:00:00Z")], today, true)
            .unwrap();
        let (events, cursor) = cursor
            .advance(
                vec![
                    meeting("c", "2026-01-05T09:00:00Z"),
                    meeting("a", "2026-01-04T10:00:00Z"),
                    // An earlier meeting whose recording finished processing late.
                    meeting("b", "2026-01-04T08:00:00Z"),
                ],
                today,
                false,
            )
            .unwrap();
        let ids: Vec<_> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(
            events[0].occurred_at.as_deref(),
            Some("2026-01-04T08:00:00Z")
        );
        let payload: Value = serde_json::from_str(&events[1].payload).unwrap();
        assert_eq!(payload["uuid"], "c");
        assert_eq!(cursor.high_water.as_deref(), Some("2026-01-05T09:00:00Z"));

        // Polling the same data again reports nothing: event ids are stable
        // and already seen.
        let (again, _) = cursor
            .clone()
            .advance(vec![meeting("c", "2026-01-05T09:00:00Z")], today, false)
            .unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn window_looks_back_a_day_but_at_most_thirty_days() {
        let today = date("2026-03-10");
        let cursor = |hw: &str| Cursor {
            high_water: Some(hw.into()),
            seen: BTreeMap::new(),
        };
        assert_eq!(
            cursor("2026-03-09T23:00:00Z")
                .window_start(today)
                .to_string(),
            "2026-03-08"
        );
        assert_eq!(
            cursor("2025-01-01T00:00:00Z")
                .window_start(today)
                .to_string(),
            "2026-02-08"
        );
        assert_eq!(
            Cursor::default().window_start(today).to_string(),
            "2026-03-09"
        );
    }

    #[test]
    fn seen_entries_older_than_the_window_are_pruned() {
        let today = date("2026-01-20");
        let mut seen = BTreeMap::new();
        seen.insert("old".to_owned(), "2026-01-01T00:00:00Z".to_owned());
        let cursor = Cursor {
            high_water: Some("2026-01-01T00:00:00Z".into()),
            seen,
        };
        let (_, next) = cursor
            .advance(vec![meeting("new", "2026-01-19T00:00:00Z")], today, false)
            .unwrap();
        assert!(!next.seen.contains_key("old"));
        assert!(next.seen.contains_key("new"));
    }

    #[test]
    fn list_input_rejects_bad_dates_and_page_sizes() {
        let bad_date = ListRecordings {
            from: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(matches!(
            list_recordings(bad_date),
            Err(ConnectorError::InvalidInput(m)) if m.contains("`from`")
        ));
        let bad_size = ListRecordings {
            page_size: Some(301),
            ..Default::default()
        };
        assert!(matches!(
            list_recordings(bad_size),
            Err(ConnectorError::InvalidInput(_))
        ));
    }
}
