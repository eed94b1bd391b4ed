//! Log records from the library, queued for the host to drain (no callbacks: purego-friendly).
//!
//! A `tracing` layer turns each event into one JSON object
//!
//! ```json
//! {"level":"info","target":"velox_middleware::cache","message":"...","fields":{"key":"..."}}
//! ```
//!
//! and appends it to a bounded in-memory queue. `fields` also holds the fields of the
//! spans the event happened in (the event's own fields win on a name clash); spans are
//! filtered by the same level as events. Other crates' events count only from `warn` up
//! unless the level is `trace`. The host pulls records with
//! `vxm_log_next` on a thread of its own and hands them to its logger (the Go shim to
//! zap). Calling into the host from Rust would need a callback, which purego can only
//! make a limited number of, and which would run host code on the library's threads.
//!
//! When the queue is full the oldest records are dropped and counted; the next record
//! handed out then carries `"dropped": N` (records lost since the previous report), so
//! the host can say so. The level is process-wide: one filter for every engine.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Once};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::error::{Error, Result};

/// Most records held before the oldest are dropped.
pub const QUEUE_RECORDS: usize = 4096;
/// Most bytes of records held before the oldest are dropped.
pub const QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Longest string value kept in a record; longer ones are cut (build logs can be huge).
pub const MAX_VALUE_BYTES: usize = 8 * 1024;

const OFF: u8 = 0;
const WARN: u8 = 2;
const TRACE: u8 = 5;
/// The library's name, as hosts see it in each record's `target`.
const OUR_TARGET: &str = "velox_middleware";
/// This crate's own module paths, reported under [`OUR_TARGET`]: the crate split must not
/// change the targets hosts filter and alert on.
const CORE_TARGET: &str = "velox_core";
const DEFAULT_LEVEL: u8 = 3; // info
const LEVEL_NAMES: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// What follows `root` in `target` when `target` is `root` or one of its modules.
fn under<'a>(target: &'a str, root: &str) -> Option<&'a str> {
    target
        .strip_prefix(root)
        .filter(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// `target` with this crate's name replaced by the library's.
fn public_target(target: &str) -> String {
    match under(target, CORE_TARGET) {
        Some(rest) => format!("{OUR_TARGET}{rest}"),
        None => target.to_owned(),
    }
}

/// `"error"`, `"warn"`, `"info"`, `"debug"`, `"trace"` or `"off"` (any case) to its rank.
fn parse_level(name: &str) -> Option<u8> {
    let name = name.trim().to_ascii_lowercase();
    // "warning" is what zap and many operators write.
    let name = if name == "warning" { "warn" } else { &name };
    LEVEL_NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// The bounded queue of serialized records, with its level filter.
pub struct LogQueue {
    state: Mutex<State>,
    ready: Condvar,
    level: AtomicU8,
    dropped_total: AtomicU64,
    max_records: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    records: VecDeque<String>,
    bytes: usize,
    /// Dropped since the last record handed out.
    dropped_unreported: u64,
    /// Bumped by every wake, so that every reader blocked at that moment returns.
    wake_generation: u64,
    /// A wake that found no reader blocked: the next reader that would block returns
    /// at once instead, so that a wake racing with the start of a read is not lost.
    wake_pending: bool,
}

impl Default for LogQueue {
    fn default() -> Self {
        LogQueue::with_limits(QUEUE_RECORDS, QUEUE_BYTES)
    }
}

impl LogQueue {
    pub fn with_limits(max_records: usize, max_bytes: usize) -> Self {
        LogQueue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            level: AtomicU8::new(DEFAULT_LEVEL),
            dropped_total: AtomicU64::new(0),
            max_records: max_records.max(1),
            max_bytes,
        }
    }

    /// Sets the most verbose level recorded (`"off"` records nothing).
    pub fn set_level(&self, name: &str) -> Result<()> {
        let level = parse_level(name).ok_or_else(|| {
            Error::config(
                "log_level",
                format!("{name:?} is not one of error, warn, info, debug, trace, off"),
            )
        })?;
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    pub fn level(&self) -> &'static str {
        LEVEL_NAMES[usize::from(self.level.load(Ordering::Relaxed))]
    }

    /// Whether an event or span of `level` from `target` is recorded. Below `trace`, other
    /// crates (hyper, h2, reqwest, rustls) are heard only at `warn` and `error`: their
    /// debug output is wire-level noise to an operator who asked for our debug logs.
    fn enabled(&self, level: &Level, target: &str) -> bool {
        let max = self.level.load(Ordering::Relaxed);
        let ours = under(target, OUR_TARGET).is_some() || under(target, CORE_TARGET).is_some();
        let max = if ours || max == TRACE {
            max
        } else {
            max.min(WARN)
        };
        max != OFF && rank(level) <= max
    }

    /// Appends a record, dropping the oldest ones while the queue is over its limits.
    pub fn push(&self, record: String) {
        let mut state = self.state.lock();
        state.bytes += record.len();
        state.records.push_back(record);
        let mut dropped = 0;
        while state.records.len() > self.max_records
            || (state.bytes > self.max_bytes && state.records.len() > 1)
        {
            if let Some(old) = state.records.pop_front() {
                state.bytes -= old.len();
                dropped += 1;
            }
        }
        state.dropped_unreported += dropped;
        drop(state);
        if dropped > 0 {
            self.dropped_total.fetch_add(dropped, Ordering::Relaxed);
        }
        self.ready.notify_one();
    }

    /// The oldest record, waiting up to `timeout` for one. `None` on timeout or when
    /// [`LogQueue::wake`] is called.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        let generation = state.wake_generation;
        loop {
            if let Some(record) = state.records.pop_front() {
                state.bytes -= record.len();
                let dropped = std::mem::take(&mut state.dropped_unreported);
                return Some(if dropped > 0 {
                    with_dropped(record, dropped)
                } else {
                    record
                });
            }
            if state.wake_generation != generation {
                state.wake_pending = false;
                return None;
            }
            if state.wake_pending {
                state.wake_pending = false;
                return None;
            }
            match deadline {
                Some(deadline) => {
                    if self.ready.wait_until(&mut state, deadline).timed_out()
                        && state.records.is_empty()
                    {
                        return None;
                    }
                }
                None => self.ready.wait(&mut state),
            }
        }
    }

    /// Makes every blocked [`LogQueue::next`] return `None` now (or, when none is
    /// blocked, the next one that would block). For shutdown.
    pub fn wake(&self) {
        let mut state = self.state.lock();
        state.wake_generation = state.wake_generation.wrapping_add(1);
        state.wake_pending = true;
        drop(state);
        self.ready.notify_all();
    }

    /// Records dropped because the queue was full, since the process started.
    pub fn dropped(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Records waiting to be read.
    pub fn len(&self) -> usize {
        self.state.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Adds `"dropped": n` to a serialized record (records are always JSON objects).
fn with_dropped(record: String, dropped: u64) -> String {
    match serde_json::from_str::<Map<String, Value>>(&record) {
        Ok(mut obj) => {
            obj.insert("dropped".into(), Value::from(dropped));
            Value::Object(obj).to_string()
        }
        Err(_) => record,
    }
}

/// The `tracing` layer that feeds a [`LogQueue`].
pub struct QueueLayer {
    queue: Arc<LogQueue>,
}

impl QueueLayer {
    pub fn new(queue: Arc<LogQueue>) -> Self {
        QueueLayer { queue }
    }
}

/// The fields of a span, kept in the span's extensions for the events inside it.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for QueueLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // "Sometimes", so that `enabled` is asked again after a level change instead of the
    // callsite remembering the first answer.
    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.queue.enabled(metadata.level(), metadata.target())
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = FieldVisitor::default();
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(visitor.fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = FieldVisitor::default();
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(fields) => fields.0.extend(visitor.fields),
            None => extensions.insert(SpanFields(visitor.fields)),
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !self.queue.enabled(meta.level(), meta.target()) {
            return;
        }
        let mut visitor = FieldVisitor::default();
        // Fields of the enclosing spans first (outermost first), so that the event's own
        // fields, and inner spans' fields, win on a name clash.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    visitor
                        .fields
                        .extend(fields.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut visitor);
        let mut record = Map::new();
        record.insert(
            "level".into(),
            Value::from(LEVEL_NAMES[usize::from(rank(meta.level()))]),
        );
        record.insert("target".into(), Value::from(public_target(meta.target())));
        record.insert(
            "message".into(),
            Value::from(visitor.message.unwrap_or_default()),
        );
        record.insert("fields".into(), Value::Object(visitor.fields));
        self.queue.push(Value::Object(record).to_string());
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            self.message = Some(text);
        } else {
            self.fields.insert(field.name().to_owned(), value);
        }
    }
}

fn bounded(mut s: String) -> Value {
    if s.len() > MAX_VALUE_BYTES {
        let mut cut = MAX_VALUE_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...(truncated)");
    }
    Value::String(s)
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, bounded(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers.
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::from(value.to_string()), Value::Number);
        self.put(field, v);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, bounded(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, bounded(format!("{value:?}")));
    }
}

/// The process-wide queue that `vxm_log_*` reads.
pub fn global() -> &'static Arc<LogQueue> {
    static QUEUE: LazyLock<Arc<LogQueue>> = LazyLock::new(Arc::default);
    &QUEUE
}

/// Installs the queue layer as the global `tracing` subscriber, once. Called from the
/// C ABI's entry points, never from library code, so that a Rust program embedding the
/// rlib keeps its own subscriber. If another global subscriber is already set, that one
/// stays and the queue simply receives nothing.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(QueueLayer::new(Arc::clone(global())));
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Sets the level of the global queue (see [`LogQueue::set_level`]).
pub fn set_level(name: &str) -> Result<()> {
    global().set_level(name)
}
