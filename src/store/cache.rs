//! A small cache of each guild's settings and activity kinds, which nearly every command reads
//! (a `/log` used to read both from the database before it could write).
//!
//! Changes made through this process (settings, kinds) bump a generation that invalidates every
//! entry at once, and a read that started before a change never stores what it read. Changes made
//! by another process on the same database file (`rally exec` beside `rally serve`) are seen
//! within [`TTL`]. Nothing that must be exact depends on the cache: the writer re-checks the kind
//! and takes the timezone from the database inside the transaction that stores an activity.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::activity::ActivityKind;
use crate::domain::settings::GuildSettings;

/// How long an entry is trusted without a change seen in this process.
pub(super) const TTL: Duration = Duration::from_secs(2);

struct Entry<T> {
    generation: u64,
    at: Instant,
    value: T,
}

#[derive(Default)]
pub(super) struct GuildCache {
    generation: AtomicU64,
    settings: Mutex<HashMap<i64, Entry<GuildSettings>>>,
    kinds: Mutex<HashMap<i64, Entry<Arc<Vec<ActivityKind>>>>>,
}

fn get<T: Clone>(map: &Mutex<HashMap<i64, Entry<T>>>, generation: u64, guild: i64) -> Option<T> {
    let map = map.lock().ok()?;
    let e = map.get(&guild)?;
    (e.generation == generation && e.at.elapsed() < TTL).then(|| e.value.clone())
}

fn put<T>(map: &Mutex<HashMap<i64, Entry<T>>>, generation: u64, current: u64, guild: i64, value: T) {
    // A read that overlapped a change may hold the old value: keep it out.
    if generation != current {
        return;
    }
    if let Ok(mut map) = map.lock() {
        // Bounded by the guilds in use; a bot in very many guilds starts over rather than grow.
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(guild, Entry { generation, at: Instant::now(), value });
    }
}

impl GuildCache {
    /// The generation to pass back to `put_*` after reading from the database.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets everything; called before and after every write that changes settings or kinds.
    pub(super) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn settings(&self, guild: i64) -> Option<GuildSettings> {
        get(&self.settings, self.generation(), guild)
    }

    pub(super) fn put_settings(&self, generation: u64, guild: i64, value: GuildSettings) {
        put(&self.settings, generation, self.generation(), guild, value);
    }

    pub(super) fn kinds(&self, guild: i64) -> Option<Arc<Vec<ActivityKind>>> {
        get(&self.kinds, self.generation(), guild)
    }

    pub(super) fn put_kinds(&self, generation: u64, guild: i64, value: Arc<Vec<ActivityKind>>) {
        put(&self.kinds, generation, self.generation(), guild, value);
    }
}
