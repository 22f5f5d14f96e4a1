//! The schema as an append-only list of migrations; `PRAGMA user_version` records how many ran.
//! Never edit a migration that has shipped: add a new one. `migrations.lock` holds a fingerprint of
//! each shipped migration and a test fails when one changes.

use rusqlite::Connection;

use super::{Result, StoreError};

pub const MIGRATIONS: &[&str] = &[
    // 1: guilds, teams, members, kinds, activities, day rollups, audit.
    r#"
CREATE TABLE guilds (
    guild_id          INTEGER PRIMARY KEY,
    timezone          TEXT    NOT NULL DEFAULT 'UTC',
    week_start        INTEGER NOT NULL DEFAULT 0 CHECK (week_start BETWEEN 0 AND 6),
    fiscal_year_start INTEGER NOT NULL DEFAULT 1 CHECK (fiscal_year_start BETWEEN 1 AND 12),
    working_days      INTEGER NOT NULL DEFAULT 31 CHECK (working_days BETWEEN 1 AND 127),
    manager_role      INTEGER,
    backdate_days     INTEGER NOT NULL DEFAULT 7 CHECK (backdate_days BETWEEN 0 AND 366),
    created_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE teams (
    team_id    INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id),
    name       TEXT    NOT NULL,
    channel_id INTEGER,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE UNIQUE INDEX teams_by_name ON teams (guild_id, name COLLATE NOCASE) WHERE deleted_at IS NULL;

-- team_id 0 means "no team", so that rollup keys never hold NULL.
CREATE TABLE members (
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id),
    user_id    INTEGER NOT NULL,
    user_name  TEXT    NOT NULL,
    team_id    INTEGER NOT NULL DEFAULT 0,
    team_since INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX members_by_team ON members (guild_id, team_id);

CREATE TABLE activity_kinds (
    kind_id    INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id),
    name       TEXT    NOT NULL,
    points     INTEGER NOT NULL,
    has_amount INTEGER NOT NULL CHECK (has_amount IN (0, 1)),
    retired_at INTEGER,
    UNIQUE (guild_id, name)
) STRICT;

-- points are frozen when logged: changing a kind's points later does not rewrite history.
CREATE TABLE activities (
    activity_id INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    team_id     INTEGER NOT NULL,
    kind_id     INTEGER NOT NULL REFERENCES activity_kinds (kind_id),
    quantity    INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    points      INTEGER NOT NULL,
    amount      INTEGER CHECK (amount IS NULL OR amount >= 0),
    occurred_at INTEGER NOT NULL,
    local_day   INTEGER NOT NULL,
    note        TEXT    NOT NULL DEFAULT '',
    deal_ref    TEXT,
    source      TEXT    NOT NULL,
    idem_key    TEXT    NOT NULL,
    actor       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id)
) STRICT;
CREATE UNIQUE INDEX activities_by_key ON activities (guild_id, idem_key);
CREATE INDEX activities_by_user ON activities (guild_id, user_id, created_at);
CREATE INDEX activities_by_day ON activities (guild_id, local_day);

-- One row per guild, local day, member, team and kind, kept in the same transaction as every write
-- and undo: KPI and leaderboard queries read these, never raw activities.
CREATE TABLE day_rollups (
    guild_id   INTEGER NOT NULL,
    local_day  INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    kind_id    INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, local_day, user_id, team_id, kind_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX day_rollups_by_user ON day_rollups (guild_id, user_id, local_day);

CREATE TABLE audit (
    audit_id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    before   TEXT,
    after    TEXT,
    at       INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_guild ON audit (guild_id, at);
"#,
    // 2: goals, the deal pipeline and compensation plans.
    r#"
-- A goal is kept as versions: a new target applies from the period it is set in, and earlier periods
-- keep the target they had. A clearing version (cleared = 1) ends the goal from its period on.
CREATE TABLE goals (
    goal_id        INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id),
    scope          TEXT    NOT NULL CHECK (scope IN ('member', 'team', 'guild')),
    subject_id     INTEGER NOT NULL,
    metric         TEXT    NOT NULL,
    period         TEXT    NOT NULL CHECK (period IN ('week', 'month', 'quarter', 'year')),
    target         INTEGER NOT NULL,
    effective_from INTEGER NOT NULL,
    cleared        INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    CHECK (target > 0 OR cleared = 1),
    UNIQUE (guild_id, scope, subject_id, metric, period, effective_from)
) STRICT;

CREATE TABLE pipeline_stages (
    guild_id    INTEGER NOT NULL REFERENCES guilds (guild_id),
    name        TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    probability INTEGER NOT NULL CHECK (probability BETWEEN 0 AND 100),
    outcome     TEXT    CHECK (outcome IN ('won', 'lost')),
    PRIMARY KEY (guild_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE deals (
    deal_id        INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id),
    user_id        INTEGER NOT NULL,
    team_id        INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    value          INTEGER NOT NULL CHECK (value >= 0),
    stage          TEXT    NOT NULL,
    expected_close INTEGER,
    opened_at      INTEGER NOT NULL,
    closed_at      INTEGER,
    outcome        TEXT    CHECK (outcome IN ('won', 'lost')),
    lost_reason    TEXT,
    won_activity   INTEGER REFERENCES activities (activity_id),
    idem_key       TEXT    NOT NULL,
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id)
) STRICT;
CREATE UNIQUE INDEX deals_by_key ON deals (guild_id, idem_key);
CREATE INDEX deals_by_owner ON deals (guild_id, user_id, outcome);
CREATE INDEX deals_open_by_close ON deals (guild_id, expected_close) WHERE outcome IS NULL;

-- Every stage a deal entered, in order, with the stage's position at the time (skipped stages count
-- as reached for conversion: a deal that reached position k reached every earlier position).
CREATE TABLE deal_stage_history (
    deal_id    INTEGER NOT NULL REFERENCES deals (deal_id),
    seq        INTEGER NOT NULL,
    stage      TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    entered_at INTEGER NOT NULL,
    PRIMARY KEY (deal_id, seq)
) STRICT, WITHOUT ROWID;

-- Versions like goals: a plan applies from effective_from (a local day number) on.
CREATE TABLE comp_plans (
    guild_id         INTEGER NOT NULL REFERENCES guilds (guild_id),
    team_id          INTEGER NOT NULL,
    effective_from   INTEGER NOT NULL,
    rate_bp          INTEGER NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
    individual_share INTEGER NOT NULL CHECK (individual_share BETWEEN 0 AND 100),
    team_share       INTEGER NOT NULL CHECK (team_share BETWEEN 0 AND 100),
    accelerator_pct  INTEGER NOT NULL DEFAULT 100 CHECK (accelerator_pct BETWEEN 100 AND 1000),
    team_bonus       INTEGER NOT NULL DEFAULT 0 CHECK (team_bonus >= 0),
    created_at       INTEGER NOT NULL,
    created_by       TEXT    NOT NULL,
    CHECK (individual_share + team_share = 100),
    PRIMARY KEY (guild_id, team_id, effective_from)
) STRICT, WITHOUT ROWID;
"#,
    // 3: schedules, their slots, the outbox of posts and DMs, nudge opt-outs, the leaderboard switch.
    r#"
CREATE TABLE schedules (
    schedule_id INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL REFERENCES guilds (guild_id),
    what        TEXT    NOT NULL CHECK (what IN ('leaderboard', 'team-summary', 'competition', 'nudges', 'hygiene')),
    channel_id  INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    params      TEXT    NOT NULL DEFAULT '{}',
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    removed_at  INTEGER,
    -- Slots are computed after this instant: the latest slot recorded, or when the schedule began.
    cursor      INTEGER NOT NULL
) STRICT;
CREATE INDEX schedules_by_guild ON schedules (guild_id) WHERE removed_at IS NULL;

-- Recording a slot is the exactly-once point: the primary key refuses a second recording, and the
-- post is queued in the outbox in the same transaction.
CREATE TABLE schedule_slots (
    schedule_id INTEGER NOT NULL REFERENCES schedules (schedule_id),
    slot_at     INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('queued', 'skipped')),
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, slot_at)
) STRICT, WITHOUT ROWID;

-- Posts and DMs waiting to be delivered. The nonce makes Discord return the earlier message instead
-- of posting twice when a delivery is retried after a crash.
CREATE TABLE outbox (
    outbox_id    INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    channel_id   INTEGER,
    user_id      INTEGER,
    nonce        TEXT    NOT NULL UNIQUE,
    body         TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    delivered_at INTEGER,
    message_id   INTEGER,
    failed_at    INTEGER,
    last_error   TEXT,
    CHECK ((channel_id IS NULL) <> (user_id IS NULL))
) STRICT;
CREATE INDEX outbox_pending ON outbox (next_attempt) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE outbox_files (
    outbox_id INTEGER NOT NULL REFERENCES outbox (outbox_id),
    filename  TEXT    NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (outbox_id, filename)
) STRICT, WITHOUT ROWID;

CREATE TABLE nudge_optouts (
    guild_id     INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    opted_out_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE guilds ADD COLUMN leaderboards INTEGER NOT NULL DEFAULT 1 CHECK (leaderboards IN (0, 1));
"#,
    r#"
-- Competitions run over a window of local days (a season); a recurring one starts the next season
-- when one ends, until it is ended. `teams` is a JSON array of team ids (empty: every team).
CREATE TABLE competitions (
    competition_id INTEGER PRIMARY KEY,
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id),
    name           TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    contest        TEXT    NOT NULL CHECK (contest IN ('teams', 'reps')),
    scoring        TEXT    NOT NULL CHECK (scoring IN ('total', 'per-capita', 'percent-of-goal')),
    first_day      INTEGER NOT NULL,
    last_day       INTEGER NOT NULL,
    repeat         TEXT    NOT NULL CHECK (repeat IN ('none', 'weekly', 'monthly')),
    teams          TEXT    NOT NULL DEFAULT '[]',
    channel_id     INTEGER,
    reward_role    INTEGER,
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    ended_at       INTEGER,
    CHECK (first_day <= last_day)
) STRICT;
CREATE UNIQUE INDEX competitions_live_name ON competitions (guild_id, name COLLATE NOCASE) WHERE ended_at IS NULL;

-- Closing a season is the exactly-once point of its announcement: the primary key refuses a second
-- close, and the announcement and role changes are queued in the outbox in the same transaction.
CREATE TABLE competition_seasons (
    competition_id INTEGER NOT NULL REFERENCES competitions (competition_id),
    season         INTEGER NOT NULL,
    first_day      INTEGER NOT NULL,
    end_day        INTEGER NOT NULL,
    closed_at      INTEGER NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('announced', 'skipped')),
    standings      TEXT    NOT NULL,
    winners        TEXT    NOT NULL,
    PRIMARY KEY (competition_id, season)
) STRICT, WITHOUT ROWID;

-- The outbox also carries role changes (a competition's reward role), which Discord applies
-- idempotently, so a retry after a crash is safe.
ALTER TABLE outbox ADD COLUMN action TEXT NOT NULL DEFAULT 'post' CHECK (action IN ('post', 'role-add', 'role-remove'));
ALTER TABLE outbox ADD COLUMN role_id INTEGER;

-- 50 % and 100 % of a goal, each celebrated once per goal period in the team channel.
CREATE TABLE goal_milestones (
    guild_id     INTEGER NOT NULL,
    scope        TEXT    NOT NULL,
    subject_id   INTEGER NOT NULL,
    metric       TEXT    NOT NULL,
    period       TEXT    NOT NULL,
    first_day    INTEGER NOT NULL,
    level        INTEGER NOT NULL CHECK (level IN (50, 100)),
    target       INTEGER NOT NULL,
    actual       INTEGER NOT NULL,
    channel_id   INTEGER,
    reached_at   INTEGER NOT NULL,
    announced_at INTEGER,
    PRIMARY KEY (guild_id, scope, subject_id, metric, period, first_day, level)
) STRICT, WITHOUT ROWID;
CREATE INDEX goal_milestones_pending ON goal_milestones (reached_at) WHERE announced_at IS NULL;

-- Working hours in local minutes since midnight: nudges and reminders are never sent outside them.
ALTER TABLE guilds ADD COLUMN work_start INTEGER NOT NULL DEFAULT 480 CHECK (work_start BETWEEN 0 AND 1439);
ALTER TABLE guilds ADD COLUMN work_end INTEGER NOT NULL DEFAULT 1080 CHECK (work_end BETWEEN 1 AND 1440);
"#,
    // 5: month rollups, filled from the day rollups.
    r#"
-- The day rollups summed per local month (month = the day number of the month's first local day),
-- kept in the same transaction as the day rollups: a year's KPIs read 12 rows per member, team and
-- kind instead of ~365, so replies no longer grow with the number of days logged.
CREATE TABLE month_rollups (
    guild_id   INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    kind_id    INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, month, user_id, team_id, kind_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX month_rollups_by_user ON month_rollups (guild_id, user_id, month);

-- Day numbers count from 0001-01-01 = 1 (Julian day 1721425.5).
INSERT INTO month_rollups (guild_id, month, user_id, team_id, kind_id, quantity, points, amount, activities)
SELECT guild_id, local_day - CAST(strftime('%d', 1721424.5 + local_day) AS INTEGER) + 1, user_id, team_id, kind_id,
       SUM(quantity), SUM(points), SUM(amount), SUM(activities)
FROM day_rollups
GROUP BY 1, 2, 3, 4, 5;
"#,
    // 6: kind-less points rollups per member and team, filled from the day rollups.
    r#"
-- Points, revenue (amounts of `won`) and activity counts per member and credited team, per local day
-- and per local month, without the kind: a leaderboard by points or revenue reads one row per
-- member and month (or day) instead of one per kind. Every write of the day rollups (log, undo,
-- import, deal, bench loader, rebuild) updates them in the same transaction. (Not by trigger: a
-- statement that fires triggers gets a statement journal, which made a 100,000-row import 10x slower.)
CREATE TABLE day_points (
    guild_id   INTEGER NOT NULL,
    local_day  INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    revenue    INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, local_day, user_id, team_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE month_points (
    guild_id   INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    revenue    INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, month, user_id, team_id)
) STRICT, WITHOUT ROWID;

INSERT INTO day_points (guild_id, local_day, user_id, team_id, points, revenue, activities)
SELECT r.guild_id, r.local_day, r.user_id, r.team_id, SUM(r.points),
       SUM(CASE WHEN k.name = 'won' THEN r.amount ELSE 0 END), SUM(r.activities)
FROM day_rollups r LEFT JOIN activity_kinds k ON k.kind_id = r.kind_id
GROUP BY 1, 2, 3, 4;
-- Day numbers count from 0001-01-01 = 1 (Julian day 1721425.5).
INSERT INTO month_points (guild_id, month, user_id, team_id, points, revenue, activities)
SELECT guild_id, local_day - CAST(strftime('%d', 1721424.5 + local_day) AS INTEGER) + 1, user_id, team_id,
       SUM(points), SUM(revenue), SUM(activities)
FROM day_points
GROUP BY 1, 2, 3, 4;

"#,
    // 7: the kind-less points rollups by member; rollups per team.
    r#"
-- `/me` ranks a rep among their team mates by points: through these, each mate is one row per
-- month (or day) of the period instead of one per kind.
CREATE INDEX day_points_by_user ON day_points (guild_id, user_id, local_day);
CREATE INDEX month_points_by_user ON month_points (guild_id, user_id, month);

-- The day and month rollups summed per credited team (team 0: no team) and kind, kept in the same
-- transaction as the others: a team's (or the guild's) totals over a period read one row per kind
-- and month or odd day, however many members the team has. Team goals, their milestones after
-- every /log, and goal progress read these.
CREATE TABLE team_day_rollups (
    guild_id   INTEGER NOT NULL,
    local_day  INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    kind_id    INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, local_day, team_id, kind_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE team_month_rollups (
    guild_id   INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    team_id    INTEGER NOT NULL,
    kind_id    INTEGER NOT NULL,
    quantity   INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    activities INTEGER NOT NULL,
    PRIMARY KEY (guild_id, month, team_id, kind_id)
) STRICT, WITHOUT ROWID;
INSERT INTO team_day_rollups (guild_id, local_day, team_id, kind_id, quantity, points, amount, activities)
SELECT guild_id, local_day, team_id, kind_id, SUM(quantity), SUM(points), SUM(amount), SUM(activities)
FROM day_rollups
GROUP BY 1, 2, 3, 4;
INSERT INTO team_month_rollups (guild_id, month, team_id, kind_id, quantity, points, amount, activities)
SELECT guild_id, month, team_id, kind_id, SUM(quantity), SUM(points), SUM(amount), SUM(activities)
FROM month_rollups
GROUP BY 1, 2, 3, 4;
"#,
    // 8: a guild's currency (ISO 4217 code) and number format (`1,234.56`, `1.234,56`, `1 234,56`,
    // `1'234.56`). NULL means not chosen yet: the first interaction fixes both from the server's
    // locale. A guild that already holds money saw it as 1,234.56 without a currency; it keeps
    // that format and is labelled USD, the default, rather than read anew from its locale.
    r#"
ALTER TABLE guilds ADD COLUMN currency TEXT CHECK (currency IS NULL OR length(currency) = 3);
ALTER TABLE guilds ADD COLUMN number_format TEXT
    CHECK (number_format IS NULL OR number_format IN ('1,234.56', '1.234,56', '1 234,56', '1''234.56'));
UPDATE guilds SET currency = 'USD', number_format = '1,234.56'
WHERE EXISTS (SELECT 1 FROM activities a WHERE a.guild_id = guilds.guild_id AND a.amount > 0)
   OR EXISTS (SELECT 1 FROM deals d WHERE d.guild_id = guilds.guild_id)
   OR EXISTS (SELECT 1 FROM goals g WHERE g.guild_id = guilds.guild_id AND g.metric = 'revenue')
   OR EXISTS (SELECT 1 FROM comp_plans p WHERE p.guild_id = guilds.guild_id AND p.team_bonus > 0);
"#,
    // 9: the CRM as a source (a connection per guild, its cursors, users, types and stages, and every
    // CRM record with what it counts as), kinds fed by the CRM, and the intake API's keys.
    r#"
-- api_token is a secret: read only to call the CRM, never logged or shown. webhook_hash is the
-- SHA-256 of the webhook's Basic password, which rally generates, hands to the CRM and forgets.
CREATE TABLE crm_connections (
    guild_id      INTEGER PRIMARY KEY REFERENCES guilds (guild_id),
    provider      TEXT    NOT NULL CHECK (provider IN ('pipedrive')),
    api_url       TEXT    NOT NULL,
    api_token     TEXT    NOT NULL,
    pipeline      TEXT,
    webhook_user  TEXT,
    webhook_hash  TEXT,
    webhook_ids   TEXT    NOT NULL DEFAULT '',
    connected_at  INTEGER NOT NULL,
    last_sync_at  INTEGER,
    last_full_at  INTEGER,
    last_error    TEXT,
    last_error_at INTEGER,
    imported      INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    removed       INTEGER NOT NULL DEFAULT 0,
    api_calls     INTEGER NOT NULL DEFAULT 0,
    token_cost    INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Per object: the end of the last complete pass (watermark), and the pass in progress (its window and
-- the cursor of its next page), so that a crash or a network error resumes where it stopped.
CREATE TABLE crm_cursors (
    guild_id   INTEGER NOT NULL,
    object     TEXT    NOT NULL,
    watermark  INTEGER,
    pass_since INTEGER,
    pass_until INTEGER,
    cursor     TEXT,
    PRIMARY KEY (guild_id, object)
) STRICT, WITHOUT ROWID;

CREATE TABLE crm_users (
    guild_id INTEGER NOT NULL,
    crm_user TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    email    TEXT    NOT NULL DEFAULT '',
    active   INTEGER NOT NULL DEFAULT 1,
    user_id  INTEGER,
    PRIMARY KEY (guild_id, crm_user)
) STRICT, WITHOUT ROWID;

-- kind NULL: the type is known but not mapped, so its activities are ignored.
CREATE TABLE crm_types (
    guild_id INTEGER NOT NULL,
    type_key TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    kind     TEXT,
    PRIMARY KEY (guild_id, type_key)
) STRICT, WITHOUT ROWID;

-- rally_stage NULL: a stage of a pipeline the guild does not follow.
CREATE TABLE crm_stages (
    guild_id      INTEGER NOT NULL,
    stage_id      TEXT    NOT NULL,
    pipeline      TEXT    NOT NULL,
    pipeline_name TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    probability   INTEGER NOT NULL,
    rally_stage   TEXT,
    PRIMARY KEY (guild_id, stage_id)
) STRICT, WITHOUT ROWID;

-- Every CRM record seen, as last read (body: JSON), and what it counts as now: counted (activity_id
-- or deal_id holds it), held (it will count once its owner is linked or its time comes), ignored.
CREATE TABLE crm_records (
    guild_id    INTEGER NOT NULL,
    object      TEXT    NOT NULL CHECK (object IN ('activity', 'deal')),
    external_id TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('counted', 'held', 'ignored')),
    reason      TEXT    NOT NULL DEFAULT '',
    activity_id INTEGER,
    deal_id     INTEGER,
    checked_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, object, external_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX crm_records_held ON crm_records (guild_id, owner) WHERE state = 'held';

-- Kinds whose activities come from the CRM (comma-separated names): /log refuses them.
ALTER TABLE guilds ADD COLUMN crm_fed TEXT NOT NULL DEFAULT '';

-- Intake API keys: only the SHA-256 of a key is kept; its first characters identify it in lists.
CREATE TABLE api_keys (
    key_id       INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL REFERENCES guilds (guild_id),
    label        TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;
"#,
    // 10: boards people trust: a role left off boards, who sees money, and members' roles.
    r#"
ALTER TABLE guilds ADD COLUMN board_exclude_role INTEGER;
ALTER TABLE guilds ADD COLUMN money_privacy TEXT NOT NULL DEFAULT 'everyone'
    CHECK (money_privacy IN ('everyone', 'managers'));
-- The member's Discord role ids as last seen on one of their interactions, space-separated:
-- rally has no member list of its own (that needs a privileged intent), so this is what it knows.
ALTER TABLE members ADD COLUMN roles TEXT NOT NULL DEFAULT '';
"#,
    // 11: the review queue (issue 14): a kind's daily cap and outlier minimum, whether a guild's
    // flagged entries count before review, an activity held out of the rollups while it waits, and
    // one row per flagged entry with its reason and decision.
    r#"
ALTER TABLE activity_kinds ADD COLUMN daily_cap INTEGER CHECK (daily_cap IS NULL OR daily_cap > 0);
ALTER TABLE activity_kinds ADD COLUMN review_min INTEGER NOT NULL DEFAULT 25 CHECK (review_min >= 0);
-- 1: flagged entries count while they wait for review; 0: only once approved.
ALTER TABLE guilds ADD COLUMN review_counts_pending INTEGER NOT NULL DEFAULT 1
    CHECK (review_counts_pending IN (0, 1));
-- 1: a live activity left out of every rollup until a manager approves it.
ALTER TABLE activities ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));

-- usual: the rep's 90th percentile when flagged (NULL: no history); minimum: the kind's then.
-- status: open until approved or removed by a manager, or withdrawn when the rep undid it.
CREATE TABLE reviews (
    activity_id INTEGER PRIMARY KEY REFERENCES activities (activity_id),
    guild_id    INTEGER NOT NULL,
    usual       INTEGER,
    minimum     INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'removed', 'withdrawn')),
    flagged_at  INTEGER NOT NULL,
    decided_by  TEXT,
    decided_at  INTEGER
) STRICT;
CREATE INDEX reviews_open ON reviews (guild_id, flagged_at) WHERE status = 'open';
"#,
    // 12: outbox leases. A scheduler takes due posts for a while (`lease_until`, UTC ms) before it
    // delivers them, so that several processes on one database never attempt the same post at once.
    r#"
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
"#,
    // 13: pipeline hygiene (issue 17): each guild's rules, the deal states a rule already fired for
    // (so a rep hears of one once), and one figure per guild and local day for the week's trend.
    r#"
-- disabled: rule names turned off, comma-separated; stale_stages: JSON {"stage": days}.
CREATE TABLE hygiene_rules (
    guild_id      INTEGER PRIMARY KEY REFERENCES guilds (guild_id),
    disabled      TEXT    NOT NULL DEFAULT '',
    stale_default INTEGER NOT NULL CHECK (stale_default BETWEEN 1 AND 365),
    stale_stages  TEXT    NOT NULL DEFAULT '{}'
) STRICT, WITHOUT ROWID;
-- state_key: domain::hygiene::Breach::state_key; written with the DM that tells of it.
CREATE TABLE hygiene_fired (
    guild_id  INTEGER NOT NULL,
    state_key TEXT    NOT NULL,
    fired_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, state_key)
) STRICT, WITHOUT ROWID;
-- totals: JSON of the guild's, each team's and each rep's tallies on that local day.
CREATE TABLE hygiene_snapshots (
    guild_id  INTEGER NOT NULL,
    local_day INTEGER NOT NULL,
    totals    TEXT    NOT NULL,
    PRIMARY KEY (guild_id, local_day)
) STRICT, WITHOUT ROWID;
-- 1: a hygiene DM's buttons write a rep's change to a CRM deal back to the CRM (a manager's choice).
ALTER TABLE crm_connections ADD COLUMN write_back INTEGER NOT NULL DEFAULT 0 CHECK (write_back IN (0, 1));
"#,
    // 14: the next steps reps record from a hygiene DM (audit rows `deal.next_step`), found per deal
    // without reading the guild's whole audit trail (one row per activity logged): every hygiene
    // read and `/forecast` looks them up. Partial, so a `/log` writes no extra index entry.
    r#"
CREATE INDEX audit_next_steps ON audit (guild_id, target, at) WHERE action = 'deal.next_step';
"#,
    // 15: a team's rows of a period without the guild's: `/kpi team`, a rep's and a team's history and
    // team competitions read one team, and through the primary key's (guild, period) range they read
    // every team's rows and dropped nine in ten at the bench's full scale (a six-month team history
    // grew 9.8x from 100 k to 10 M activities). Covering (the rows' values ride along), so a read
    // never leaves the index; PostgreSQL's has the same columns.
    r#"
CREATE INDEX day_rollups_by_team ON day_rollups (guild_id, team_id, local_day, user_id, kind_id, quantity, points, amount);
CREATE INDEX month_rollups_by_team ON month_rollups (guild_id, team_id, month, user_id, kind_id, quantity, points, amount);
"#,
    // 16: role rewards (issue 15): a role held while a member's figure in the current week, month,
    // quarter or year reaches a threshold, and the members rally gave it to (it takes away only those).
    r#"
-- metric: a goal metric's column form (points, revenue, deals-won, kind:<name>); threshold in its
-- units (minor currency units for revenue). channel_id: where a refused role change is reported.
-- stopped_at/last_error: Discord refused a role change for good; the reward waits until a manager
-- runs /reward add for its role again.
CREATE TABLE rewards (
    reward_id   INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL REFERENCES guilds (guild_id),
    role_id     INTEGER NOT NULL,
    metric      TEXT    NOT NULL,
    period      TEXT    NOT NULL CHECK (period IN ('week', 'month', 'quarter', 'year')),
    threshold   INTEGER NOT NULL CHECK (threshold > 0),
    channel_id  INTEGER,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    removed_at  INTEGER,
    stopped_at  INTEGER,
    last_error  TEXT
) STRICT;
CREATE UNIQUE INDEX rewards_live_role ON rewards (guild_id, role_id) WHERE removed_at IS NULL;
-- A row: rally gave the role to the member (the change is queued in the outbox in the same
-- transaction) and has not queued taking it back. first_day: the local day the period they
-- reached it in began.
CREATE TABLE reward_holders (
    reward_id INTEGER NOT NULL REFERENCES rewards (reward_id),
    user_id   INTEGER NOT NULL,
    first_day INTEGER NOT NULL,
    given_at  INTEGER NOT NULL,
    PRIMARY KEY (reward_id, user_id)
) STRICT, WITHOUT ROWID;
"#,
    // 17: celebrations (issue 15): each guild's `/celebrate` rules, the events they celebrated (a
    // key derived from the event's content, unique per guild, written in the transaction that
    // queues the post), and how far the celebration pass has read the activities.
    r#"
-- rule: big-win (min_amount + currency), personal-best (kind + span), first-win, streak.
CREATE TABLE celebration_rules (
    rule_id    INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id),
    rule       TEXT    NOT NULL CHECK (rule IN ('big-win', 'personal-best', 'first-win', 'streak')),
    kind       TEXT,
    span       TEXT    CHECK (span IS NULL OR span IN ('day', 'week')),
    min_amount INTEGER CHECK (min_amount IS NULL OR min_amount >= 0),
    currency   TEXT,
    channel_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    removed_at INTEGER
) STRICT;
CREATE INDEX celebration_rules_live ON celebration_rules (guild_id) WHERE removed_at IS NULL;
-- detail: JSON of what the post says (names, counts, amounts in minor units).
-- post_nonce: the outbox nonce of the post that told of it; NULL while it waits (or when retired).
CREATE TABLE celebrations (
    guild_id     INTEGER NOT NULL,
    event_key    TEXT    NOT NULL,
    rule_id      INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    detail       TEXT    NOT NULL,
    fired_at     INTEGER NOT NULL,
    announced_at INTEGER,
    post_nonce   TEXT,
    PRIMARY KEY (guild_id, event_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX celebrations_pending ON celebrations (fired_at) WHERE announced_at IS NULL;
CREATE INDEX celebrations_by_channel ON celebrations (channel_id, announced_at);
-- One row: the highest activity id the celebration pass has read.
CREATE TABLE celebration_cursor (
    cursor_id        INTEGER PRIMARY KEY CHECK (cursor_id = 1),
    last_activity_id INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
"#,
    // 18: wallboard links (issue 15): the SHA-256 of each random token (the token itself is shown once,
    // in the manager's ephemeral reply, and never kept); a revoked link keeps its row for the audit.
    r#"
CREATE TABLE wallboard_tokens (
    token_id   INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id),
    hash       TEXT    NOT NULL UNIQUE,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX wallboard_tokens_live ON wallboard_tokens (guild_id) WHERE revoked_at IS NULL;
"#,
    // 19: activities of one kind by day and time (issue 15): the wallboard's "today's wins" read
    // walked every activity of the day (a busy floor's calls and emails) to find a few wins, on
    // every frame; now it reads the newest few wins alone, in the index's order. The kind leads (kind ids are unique across guilds): an index led by
    // guild_id would tie with activities_by_day for the reads that filter on the guild alone, and
    // SQLite, without statistics, took it for `has_money`'s EXISTS.
    r#"
CREATE INDEX activities_by_kind ON activities (kind_id, local_day, occurred_at);
"#,
    // 20: the directory's version (issue 13): a number that every change to a guild's teams or
    // members (what `store::teams::directory_with` reads: ids, names, channels, who is on which live
    // team) moves on, in the transaction that makes the change. A read connection keeps the
    // directory it read with its version and reads the rows again only when the version moved, in
    // the same statement as the reply's other rows. Triggers, not the store's writes, move it, so
    // that no write path (an admin's own SQL included) can leave a connection holding an old one.
    // A database copy writes rows as they are, the version with its guild: while `rally_copy`
    // exists (only during a copy) the triggers leave it be.
    r#"
ALTER TABLE guilds ADD COLUMN directory_version INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER teams_directory_added AFTER INSERT ON teams
WHEN NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id = NEW.guild_id;
END;
CREATE TRIGGER teams_directory_changed AFTER UPDATE OF guild_id, team_id, name, channel_id, deleted_at ON teams
WHEN (OLD.guild_id IS NOT NEW.guild_id OR OLD.team_id IS NOT NEW.team_id OR OLD.name IS NOT NEW.name
      OR OLD.channel_id IS NOT NEW.channel_id OR OLD.deleted_at IS NOT NEW.deleted_at)
    AND NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id IN (OLD.guild_id, NEW.guild_id);
END;
CREATE TRIGGER teams_directory_removed AFTER DELETE ON teams
WHEN NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id = OLD.guild_id;
END;
CREATE TRIGGER members_directory_added AFTER INSERT ON members
WHEN NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id = NEW.guild_id;
END;
CREATE TRIGGER members_directory_changed AFTER UPDATE OF guild_id, user_id, user_name, team_id ON members
WHEN (OLD.guild_id IS NOT NEW.guild_id OR OLD.user_id IS NOT NEW.user_id OR OLD.user_name IS NOT NEW.user_name
      OR OLD.team_id IS NOT NEW.team_id)
    AND NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id IN (OLD.guild_id, NEW.guild_id);
END;
CREATE TRIGGER members_directory_removed AFTER DELETE ON members
WHEN NOT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'rally_copy')
BEGIN
    UPDATE guilds SET directory_version = directory_version + 1 WHERE guild_id = OLD.guild_id;
END;
"#,
];

/// How many migrations the database at hand has run.
/// The schema version of the database `db` is connected to: how many migrations ran.
pub fn schema_version(db: &super::sql::Db) -> Result<usize> {
    if let Some(version) = db.with_postgres_client(super::postgres::schema_version) {
        return version.map_err(|e| StoreError::Migration(e.to_string()));
    }
    let v: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok(v as usize)
}

fn sqlite_schema_version(conn: &Connection) -> Result<usize> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(v as usize)
}

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current = sqlite_schema_version(conn)?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database has schema version {current}, newer than this rally ({}); upgrade rally",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql).map_err(|e| StoreError::Migration(format!("migration {} failed: {e}", i + 1)))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// A stable 64-bit FNV-1a fingerprint of a migration's text, for the append-only check.
#[cfg(test)]
fn fingerprint(sql: &str) -> u64 {
    sql.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The append-only check of a migration list against its lock file, for both backends: every
/// locked line still matches its migration (`first` is the version of `migrations[0]`), none was
/// removed, and the lines of new migrations are named for `lock_path`.
#[cfg(test)]
pub(crate) fn check_lock(lock: &str, migrations: &[&str], first: usize, lock_path: &str) {
    let locked: Vec<&str> = lock.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
    assert!(
        locked.len() <= migrations.len(),
        "a migration was removed: {lock_path} lists {} but the code has {}",
        locked.len(),
        migrations.len()
    );
    let line = |k: usize| format!("{} {:016x}", first + k, fingerprint(migrations[k]));
    for (k, locked) in locked.iter().enumerate() {
        assert_eq!(
            locked.trim(),
            line(k),
            "migration {} changed after it shipped; add a new migration instead",
            first + k
        );
    }
    let missing: Vec<String> = (locked.len()..migrations.len()).map(line).collect();
    assert!(missing.is_empty(), "append these lines to {lock_path}:\n{}", missing.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = include_str!("migrations.lock");

    #[test]
    fn points_rollups_are_filled_from_the_day_rollups_of_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("p.db")).unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        // Kinds without their guild: only the rollups matter here.
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn.execute_batch("INSERT INTO activity_kinds VALUES (3, 1, 'call', 1, 0, NULL), (4, 1, 'won', 20, 1, NULL);")
            .unwrap();
        let day = |y, m, d| super::super::day_number(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        let insert = "INSERT INTO day_rollups VALUES (1, ?1, 2, 0, ?2, 1, ?3, ?4, 1)";
        conn.execute(insert, rusqlite::params![day(2026, 1, 31), 3, 3, 0]).unwrap();
        conn.execute(insert, rusqlite::params![day(2026, 1, 31), 4, 20, 500]).unwrap();
        migrate(&mut conn).unwrap();
        let read = |conn: &Connection, table: &str| -> Vec<(i64, i64, i64, i64)> {
            let period = if table == "day_points" { "local_day" } else { "month" };
            conn.prepare(&format!("SELECT {period}, points, revenue, activities FROM {table} ORDER BY 1"))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(read(&conn, "day_points"), vec![(day(2026, 1, 31), 23, 500, 2)]);
        assert_eq!(read(&conn, "month_points"), vec![(day(2026, 1, 1), 23, 500, 2)]);
    }

    #[test]
    fn team_rollups_are_filled_from_the_member_rollups_of_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        let day = |y, m, d| super::super::day_number(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        // Two members of team 7 and one without a team, all calls (kind 3), on one day.
        for (user, team, quantity) in [(2, 7, 3), (3, 7, 4), (4, 0, 5)] {
            conn.execute(
                "INSERT INTO day_rollups VALUES (1, ?1, ?2, ?3, 3, ?4, ?4, 0, 1)",
                rusqlite::params![day(2026, 3, 9), user, team, quantity],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO month_rollups VALUES (1, ?1, ?2, ?3, 3, ?4, ?4, 0, 1)",
                rusqlite::params![day(2026, 3, 1), user, team, quantity],
            )
            .unwrap();
        }
        migrate(&mut conn).unwrap();
        let read = |table: &str| -> Vec<(i64, i64, i64, i64)> {
            let period = if table == "team_day_rollups" { "local_day" } else { "month" };
            conn.prepare(&format!("SELECT {period}, team_id, quantity, activities FROM {table} ORDER BY 1, 2"))
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(read("team_day_rollups"), vec![(day(2026, 3, 9), 0, 5, 1), (day(2026, 3, 9), 7, 7, 2)]);
        assert_eq!(read("team_month_rollups"), vec![(day(2026, 3, 1), 0, 5, 1), (day(2026, 3, 1), 7, 7, 2)]);
    }

    #[test]
    fn shipped_migrations_are_never_edited_only_appended() {
        check_lock(LOCK, MIGRATIONS, 1, "src/store/migrations.lock");
    }

    #[test]
    fn month_rollups_are_filled_from_the_day_rollups_of_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        let day = |y, m, d| super::super::day_number(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        for (d, points) in [(day(2026, 1, 31), 3), (day(2026, 2, 1), 5), (day(2026, 2, 28), 7), (day(2024, 2, 29), 11)]
        {
            conn.execute("INSERT INTO day_rollups VALUES (1, ?1, 2, 0, 3, 1, ?2, 0, 1)", rusqlite::params![d, points])
                .unwrap();
        }
        migrate(&mut conn).unwrap();
        let months: Vec<(i64, i64)> = conn
            .prepare("SELECT month, points FROM month_rollups ORDER BY month")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(months, vec![(day(2024, 2, 1), 11), (day(2026, 1, 1), 3), (day(2026, 2, 1), 12)]);
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(sqlite_schema_version(&conn).unwrap(), MIGRATIONS.len());
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(migrate(&mut conn).is_err());
    }
}
