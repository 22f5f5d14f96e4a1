//! The SQL connection every store module speaks, whatever the backend: [`Db`] runs a statement,
//! [`Row`] reads a column, [`Params`] binds values. Store modules write their SQL once, in the
//! subset SQLite and PostgreSQL share (numbered `?N` placeholders, `ON CONFLICT`, `RETURNING`,
//! `COLLATE NOCASE`), and ask [`Db::dialect`] for the few expressions that differ.
//!
//! Values cross as five kinds, SQLite's own ([`ValueRef`]): integers (`i64`), reals (`f64`),
//! text, blobs and NULL. Every integer column is 64-bit on both backends, flags are integers 0/1,
//! instants are milliseconds since the Unix epoch and local dates day numbers (see `store::millis`
//! and `store::day_number`), so no column needs a type of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValueRef};

/// The backend a [`Db`] talks to, for the few expressions the two dialects spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The day number (days from 0001-01-01 = 1, `store::day_number`) of the first day of the month
    /// that day number `day` (an SQL expression) falls in.
    pub fn month_start(self, day: &str) -> String {
        match self {
            // Julian day 1721425.5 is 0001-01-01.
            Dialect::Sqlite => format!("{day} - CAST(strftime('%d', 1721424.5 + {day}) AS INTEGER) + 1"),
            Dialect::Postgres => {
                format!("{day} - CAST(EXTRACT(DAY FROM DATE '0001-01-01' + CAST({day} - 1 AS INTEGER)) AS BIGINT) + 1")
            }
        }
    }

    /// The text at top-level key `key` of the JSON text in `column` (NULL when absent).
    pub fn json_text(self, column: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("(CAST({column} AS jsonb) ->> '{key}')"),
        }
    }

    /// ` INDEXED BY index` where SQLite needs telling which index to read (it keeps no statistics
    /// unless asked); nothing on PostgreSQL, whose planner has them.
    pub fn index_hint(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` after a SELECT that takes rows for the writing transaction: other
    /// transactions pass over them instead of waiting; nothing on SQLite, whose one writer is alone.
    pub fn lock_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Whether text `needle` occurs in text `haystack` (both SQL expressions), as a condition.
    pub fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }
}

/// An error from running a statement or reading what it returned.
#[derive(Debug)]
pub enum Error {
    /// SQLite refused or failed the statement.
    Sqlite(rusqlite::Error),
    /// PostgreSQL refused or failed the statement, or the connection broke.
    Postgres(postgres::Error),
    /// A row was expected and the statement returned none (`query_row`).
    NoRows,
    /// Column `column` held something its reader cannot take (`expected`, `found`).
    Conversion { column: usize, expected: &'static str, found: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "{e}"),
            Error::Postgres(e) => f.write_str(&super::postgres::describe(e)),
            Error::NoRows => f.write_str("the query returned no rows"),
            Error::Conversion { column, expected, found } => {
                write!(f, "column {column} holds {found}, not {expected}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// Whether the statement failed because the connection is gone (the server closed it, shut
    /// down, or ended this session: SQLSTATE class 57P), so the same work may be tried again on a
    /// new connection. Never true on SQLite.
    pub fn connection_lost(&self) -> bool {
        match self {
            Error::Postgres(e) => e.is_closed() || e.code().is_some_and(|c| c.code().starts_with("57P")),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(..).optional()`: no row is `Ok(None)` rather than an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A value as a statement takes or returns it, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    fn describe(&self) -> String {
        match self {
            ValueRef::Null => "NULL".into(),
            ValueRef::Integer(i) => format!("the integer {i}"),
            ValueRef::Real(r) => format!("the real {r}"),
            ValueRef::Text(_) => "text".into(),
            ValueRef::Blob(_) => "a blob".into(),
        }
    }
}

/// A value owned, of the same five kinds as [`ValueRef`]: what a copy carries from one database to
/// the other, read with `row.get::<_, Value>(i)` and bound as it was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The value borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(t.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

/// Something a statement can bind as a parameter.
pub trait ToValue {
    fn to_value(&self) -> ValueRef<'_>;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
    )*};
}
int_to_value!(i64, i32, i16, i8, u32, u16, u8, bool);

impl ToValue for f64 {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> ValueRef<'_> {
        self.as_ref().map_or(ValueRef::Null, ToValue::to_value)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> ValueRef<'_> {
        (**self).to_value()
    }
}

impl ToValue for ValueRef<'_> {
    fn to_value(&self) -> ValueRef<'_> {
        *self
    }
}

impl ToValue for Value {
    fn to_value(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => SqliteValueRef::Null,
            ValueRef::Integer(i) => SqliteValueRef::Integer(i),
            ValueRef::Real(r) => SqliteValueRef::Real(r),
            ValueRef::Text(t) => SqliteValueRef::Text(t.as_bytes()),
            ValueRef::Blob(b) => SqliteValueRef::Blob(b),
        }))
    }
}

/// The parameters of one statement, bound as `?1`, `?2`, ... in order.
pub trait Params {
    /// Calls `f` with the values to bind.
    fn bind<R>(&self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R;
}

impl Params for &[&dyn ToValue] {
    fn bind<R>(&self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        f(&self.iter().map(|v| v.to_value()).collect::<Vec<_>>())
    }
}

impl Params for [&dyn ToValue; 0] {
    fn bind<R>(&self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        f(&[])
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn bind<R>(&self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
                f(&self.each_ref().map(ToValue::to_value))
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

/// Parameters from an iterator of values (a statement built at run time).
pub struct ParamsFromIter<I>(I);

/// Binds every item of `iter` in order.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter<I>
where
    I: IntoIterator + Clone,
    I::Item: ToValue,
{
    ParamsFromIter(iter)
}

impl<I> Params for ParamsFromIter<I>
where
    I: IntoIterator + Clone,
    I::Item: ToValue,
{
    fn bind<R>(&self, f: impl FnOnce(&[ValueRef<'_>]) -> R) -> R {
        // The items may be owned values the iterator makes, so they are kept while bound.
        let items: Vec<I::Item> = self.0.clone().into_iter().collect();
        f(&items.iter().map(ToValue::to_value).collect::<Vec<_>>())
    }
}

/// `params![a, b, c]`: the parameters `?1`, `?2`, `?3` of a statement, of any [`ToValue`] types.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::store::sql::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::store::sql::ToValue),+] as &[&dyn $crate::store::sql::ToValue]
    };
}
pub(crate) use params;

/// Something a column can be read as ([`Row::get`]).
pub trait FromValue: Sized {
    /// What the type is called in an error ("an integer").
    const EXPECTED: &'static str;
    /// `None` when `v` is not a value of this type.
    fn from_value(v: ValueRef<'_>) -> Option<Self>;
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "an integer";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        }
    }
}

macro_rules! narrow_int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            const EXPECTED: &'static str = concat!("an integer that fits ", stringify!($t));
            fn from_value(v: ValueRef<'_>) -> Option<Self> {
                i64::from_value(v).and_then(|i| <$t>::try_from(i).ok())
            }
        }
    )*};
}
narrow_int_from_value!(i32, u8, u16, u32, u64, usize);

impl FromValue for bool {
    const EXPECTED: &'static str = "a flag (an integer)";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Real(r) => Some(r),
            ValueRef::Integer(i) => Some(i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Text(t) => Some(t.to_owned()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const EXPECTED: &'static str = "a blob";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Blob(b) => Some(b.to_vec()),
            ValueRef::Text(t) => Some(t.as_bytes().to_vec()),
            _ => None,
        }
    }
}

impl FromValue for Value {
    const EXPECTED: &'static str = "any value";
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        Some(v.into())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: ValueRef<'_>) -> Option<Self> {
        match v {
            ValueRef::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One row a statement returned.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// How many columns the row has.
    pub fn column_count(&self) -> usize {
        match &self.0 {
            RowInner::Sqlite(r) => r.as_ref().column_count(),
            RowInner::Postgres(r) => r.len(),
        }
    }

    /// Column `index` (from 0) as a `T`; an error when it holds something else (NULL into a
    /// non-`Option`, text into an integer).
    pub fn get<I: ColumnIndex, T: FromValue>(&self, index: I) -> Result<T> {
        let column = index.index();
        self.with_value(column, |v| {
            T::from_value(v).ok_or_else(|| Error::Conversion { column, expected: T::EXPECTED, found: v.describe() })
        })
    }

    fn with_value<T>(&self, column: usize, f: impl FnOnce(ValueRef<'_>) -> Result<T>) -> Result<T> {
        match &self.0 {
            RowInner::Sqlite(r) => {
                let v = match r.get_ref(column)? {
                    SqliteValueRef::Null => ValueRef::Null,
                    SqliteValueRef::Integer(i) => ValueRef::Integer(i),
                    SqliteValueRef::Real(f) => ValueRef::Real(f),
                    SqliteValueRef::Text(t) => ValueRef::Text(std::str::from_utf8(t).map_err(|_| {
                        Error::Conversion { column, expected: "text", found: "text that is not UTF-8".into() }
                    })?),
                    SqliteValueRef::Blob(b) => ValueRef::Blob(b),
                };
                f(v)
            }
            RowInner::Postgres(r) => f(r.try_get::<_, PgValue<'_>>(column)?.0),
        }
    }
}

/// A column position, from 0 ([`Row::get`]).
pub trait ColumnIndex {
    fn index(&self) -> usize;
}

impl ColumnIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

/// A connection to the store's database. The SQLite writer and readers each own one, as do
/// PostgreSQL's.
pub struct Db {
    conn: Conn,
    /// What a read connection remembers between reads (`None` on the writer, whose reads may see
    /// its own uncommitted writes): see [`Db::remember_reads`].
    memo: Option<RefCell<Memo>>,
    /// Where this connection counts the statements it runs (`None`: not counted), see
    /// [`Db::count_statements`].
    statements: Option<std::sync::Arc<AtomicU64>>,
}

/// What a read connection keeps between reads: facts that never change once committed, and
/// facts kept with the version they were read at, which every read that uses them checks.
#[derive(Default)]
pub(crate) struct Memo {
    /// Each guild's activity kind names by kind id. A kind is never renamed nor deleted (only
    /// retired), so an id's name read once stays its name; a kind added since is an id missing
    /// here, and is read then (`kpis::kind_names`).
    pub kind_names: HashMap<i64, std::sync::Arc<HashMap<i64, String>>>,
    /// Each guild's directory (teams and members) as last read, with its version; read again
    /// when the version moved (`teams::directory_of`).
    pub directories: HashMap<i64, std::sync::Arc<super::teams::HeldDirectory>>,
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

/// A PostgreSQL connection and the statements prepared on it, by their text as the store wrote
/// it (before placeholders are renumbered).
struct PgConn {
    client: RefCell<postgres::Client>,
    statements: RefCell<HashMap<String, postgres::Statement>>,
}

/// Statements kept per PostgreSQL connection; past this the cache starts over (text built at run
/// time, such as `IN` lists, would otherwise grow it without end).
const PG_STATEMENTS: usize = 512;

impl Db {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Db {
        Db { conn: Conn::Sqlite(conn), memo: None, statements: None }
    }

    pub(crate) fn postgres(client: postgres::Client) -> Db {
        Db {
            conn: Conn::Postgres(Box::new(PgConn { client: RefCell::new(client), statements: RefCell::default() })),
            memo: None,
            statements: None,
        }
    }

    /// Makes this connection add one to `counter` for every statement it runs (each a round trip
    /// on PostgreSQL), so a store can say how many statements its reads ran.
    pub(crate) fn count_statements(mut self, counter: std::sync::Arc<AtomicU64>) -> Db {
        self.statements = Some(counter);
        self
    }

    /// Makes this connection keep a [`Memo`] between reads: only for a connection that never
    /// writes, so that all it remembers was committed.
    pub(crate) fn remember_reads(mut self) -> Db {
        self.memo = Some(RefCell::default());
        self
    }

    /// The connection's memo, if it keeps one ([`Db::remember_reads`]).
    pub(crate) fn memo(&self) -> Option<std::cell::RefMut<'_, Memo>> {
        self.memo.as_ref().map(RefCell::borrow_mut)
    }

    /// The SQLite connection underneath, for what only SQLite has (pragmas, checkpoints).
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.conn {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    /// Runs `f` on the PostgreSQL client underneath (`None` on SQLite): for what the `postgres`
    /// crate does itself, such as migrations in transactions of their own.
    pub(crate) fn with_postgres_client<T>(&self, f: impl FnOnce(&mut postgres::Client) -> T) -> Option<T> {
        match &self.conn {
            Conn::Sqlite(_) => None,
            Conn::Postgres(c) => Some(f(&mut c.client.borrow_mut())),
        }
    }

    /// Whether the connection can no longer be used (PostgreSQL: the server closed it).
    pub(crate) fn is_broken(&self) -> bool {
        match &self.conn {
            Conn::Sqlite(_) => false,
            Conn::Postgres(c) => c.client.try_borrow().map(|c| c.is_closed()).unwrap_or(false),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match &self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A statement, prepared once per connection and kept for the next call with the same text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Stmt(StmtInner::Sqlite(c.prepare_cached(sql)?), self.statements.as_deref())),
            Conn::Postgres(c) => {
                if let Some(stmt) = c.statements.borrow().get(sql) {
                    return Ok(Stmt(StmtInner::Postgres(c, stmt.clone()), self.statements.as_deref()));
                }
                let stmt = c.client.borrow_mut().prepare(&postgres_placeholders(sql))?;
                let mut cache = c.statements.borrow_mut();
                if cache.len() >= PG_STATEMENTS {
                    cache.clear();
                }
                cache.insert(sql.to_owned(), stmt.clone());
                Ok(Stmt(StmtInner::Postgres(c, stmt), self.statements.as_deref()))
            }
        }
    }

    /// A statement for one use (text built at run time, which would only crowd the cache).
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Stmt(StmtInner::SqliteOnce(c.prepare(sql)?), self.statements.as_deref())),
            Conn::Postgres(c) => {
                let stmt = c.client.borrow_mut().prepare(&postgres_placeholders(sql))?;
                Ok(Stmt(StmtInner::Postgres(c, stmt), self.statements.as_deref()))
            }
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs statements separated by `;`, without parameters (schema changes, transaction control).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => Ok(c.client.borrow_mut().batch_execute(sql)?),
        }
    }

    /// The first row of one statement, read by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// A prepared statement ([`Db::prepare_cached`]), and where its runs are counted, if anywhere.
pub struct Stmt<'c>(StmtInner<'c>, Option<&'c AtomicU64>);

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    SqliteOnce(rusqlite::Statement<'c>),
    Postgres(&'c PgConn, postgres::Statement),
}

impl Stmt<'_> {
    fn count(&self) {
        if let Some(counter) = self.1 {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs the statement; the number of rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        self.count();
        match &mut self.0 {
            StmtInner::Sqlite(s) => params.bind(|v| Ok(s.execute(rusqlite::params_from_iter(v))?)),
            StmtInner::SqliteOnce(s) => params.bind(|v| Ok(s.execute(rusqlite::params_from_iter(v))?)),
            StmtInner::Postgres(c, stmt) => params.bind(|v| {
                let n =
                    c.client.borrow_mut().execute(&*stmt, &pg_params(v).iter().map(|p| p as _).collect::<Vec<_>>())?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }),
        }
    }

    /// The first row, read by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(&mut self, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Whether the statement returns any row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        Ok(self.query(params)?.next()?.is_some())
    }

    /// The rows, one at a time ([`Rows::next`]).
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        fn sqlite<'s>(s: &'s mut rusqlite::Statement<'_>, params: impl Params) -> Result<Rows<'s>> {
            let rows = params.bind(|v| s.query(rusqlite::params_from_iter(v)))?;
            Ok(Rows(RowsInner::Sqlite(rows)))
        }
        self.count();
        match &mut self.0 {
            StmtInner::Sqlite(s) => sqlite(s, params),
            StmtInner::SqliteOnce(s) => sqlite(s, params),
            StmtInner::Postgres(c, stmt) => {
                let rows = params.bind(|v| {
                    c.client.borrow_mut().query(&*stmt, &pg_params(v).iter().map(|p| p as _).collect::<Vec<_>>())
                })?;
                Ok(Rows(RowsInner::Postgres { rows: rows.into_iter(), current: None }))
            }
        }
    }

    /// The rows, each read by `f`, as an iterator of results.
    pub fn query_map<T, F>(&mut self, params: impl Params, f: F) -> Result<MappedRows<'_, F>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(MappedRows { rows: self.query(params)?, f })
    }
}

/// The rows of a running query ([`Stmt::query`]).
pub struct Rows<'s>(RowsInner<'s>);

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    /// PostgreSQL's rows arrive whole; `current` is the one last handed out.
    Postgres {
        rows: std::vec::IntoIter<postgres::Row>,
        current: Option<postgres::Row>,
    },
}

impl Rows<'_> {
    /// The next row, or `None` after the last.
    #[allow(clippy::should_implement_trait)] // each row borrows the cursor: not an Iterator
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row(RowInner::Sqlite(r)))),
            RowsInner::Postgres { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(|r| Row(RowInner::Postgres(r))))
            }
        }
    }
}

/// The rows of a query, each read by a closure ([`Stmt::query_map`]).
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    f: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.f)(&row)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// The store's SQL with PostgreSQL's placeholders: `?N` becomes `$N` and a bare `?` the next
/// number after the highest so far (SQLite's rule), outside quotes and comments.
pub(crate) fn postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut highest = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = digits.parse().unwrap_or(highest + 1);
                highest = highest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// A parameter as PostgreSQL takes it: the server says which type each placeholder has, and the
/// value is written as that type (an integer into an `int4`, a flag into a `boolean`), or refused
/// when it cannot be one.
#[derive(Debug)]
struct PgParam<'a>(ValueRef<'a>);

fn pg_params<'a>(values: &[ValueRef<'a>]) -> Vec<PgParam<'a>> {
    values.iter().map(|v| PgParam(*v)).collect()
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::NUMERIC => {
                    numeric_from_i64(i, out);
                    Ok(IsNull::No)
                }
                _ => Err(format!("cannot bind the integer {i} to a parameter of type {ty}").into()),
            },
            ValueRef::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (r as f32).to_sql(ty, out),
                _ => Err(format!("cannot bind the real {r} to a parameter of type {ty}").into()),
            },
            ValueRef::Text(t) => match *ty {
                Type::JSONB => {
                    // jsonb's binary form: a version byte, then the text.
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(t.as_bytes());
                    Ok(IsNull::No)
                }
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                    out.extend_from_slice(t.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(format!("cannot bind text to a parameter of type {ty}").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("cannot bind a blob to a parameter of type {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column as PostgreSQL returned it, read as one of the five kinds.
struct PgValue<'a>(ValueRef<'a>);

impl<'a> FromSql<'a> for PgValue<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let v = match *ty {
            Type::INT8 => ValueRef::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => ValueRef::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => ValueRef::Integer(i16::from_sql(ty, raw)?.into()),
            Type::OID => ValueRef::Integer(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => ValueRef::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => ValueRef::Real(f32::from_sql(ty, raw)?.into()),
            // SUM and AVG of integers are numeric in PostgreSQL.
            Type::NUMERIC => numeric_value(raw)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                ValueRef::Text(std::str::from_utf8(raw)?)
            }
            Type::JSONB => ValueRef::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?),
            Type::BYTEA => ValueRef::Blob(raw),
            _ => return Err(format!("rally does not read columns of type {ty}").into()),
        };
        Ok(PgValue(v))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Reads PostgreSQL's binary `numeric` (base-10000 digits, a weight, a sign and a scale): an
/// integer when it has no fraction and fits an `i64`, else a real.
fn numeric_value(raw: &[u8]) -> std::result::Result<ValueRef<'static>, BoxError> {
    let word = |i: usize| -> std::result::Result<u16, BoxError> {
        Ok(u16::from_be_bytes(raw.get(i * 2..i * 2 + 2).ok_or("a truncated numeric")?.try_into()?))
    };
    let (ndigits, weight, sign, scale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)?);
    const NEGATIVE: u16 = 0x4000;
    const NAN: u16 = 0xC000;
    if sign == NAN {
        return Ok(ValueRef::Real(f64::NAN));
    }
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<std::result::Result<Vec<_>, _>>()?;
    // An integer: no digit groups after the decimal point.
    if scale == 0 && (weight as i64) + 1 >= ndigits as i64 {
        let mut n: i128 = 0;
        for d in &digits {
            n = n * 10_000 + i128::from(*d);
        }
        for _ in 0..(weight as i64 + 1 - ndigits as i64) {
            n *= 10_000;
        }
        if sign == NEGATIVE {
            n = -n;
        }
        if let Ok(i) = i64::try_from(n) {
            return Ok(ValueRef::Integer(i));
        }
    }
    let mut r = 0f64;
    for (i, d) in digits.iter().enumerate() {
        r += f64::from(*d) * 10_000f64.powi(i32::from(weight) - i as i32);
    }
    Ok(ValueRef::Real(if sign == NEGATIVE { -r } else { r }))
}

/// Writes `i` as PostgreSQL's binary `numeric`.
fn numeric_from_i64(i: i64, out: &mut bytes::BytesMut) {
    let mut groups = Vec::new();
    let mut n = i.unsigned_abs();
    while n > 0 {
        groups.push((n % 10_000) as u16);
        n /= 10_000;
    }
    groups.reverse();
    let weight = groups.len() as i16 - 1;
    // Trailing zero groups are implied by the weight.
    while groups.last() == Some(&0) {
        groups.pop();
    }
    out.extend_from_slice(&(groups.len() as u16).to_be_bytes());
    out.extend_from_slice(&weight.max(0).to_be_bytes());
    out.extend_from_slice(&(if i < 0 { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes_and_comments() {
        assert_eq!(postgres_placeholders("SELECT ?1, ?2 WHERE a = ?1"), "SELECT $1, $2 WHERE a = $1");
        assert_eq!(postgres_placeholders("VALUES (?, ?, ?5, ?)"), "VALUES ($1, $2, $5, $6)");
        assert_eq!(postgres_placeholders("SELECT '?1', \"?\" -- ?3\n, ?2"), "SELECT '?1', \"?\" -- ?3\n, $2");
    }

    #[test]
    fn numerics_read_back_as_what_they_were() {
        for i in [0i64, 1, -1, 9_999, 10_000, 123_456_789, -40_000, i64::MAX, i64::MIN + 1] {
            let mut out = bytes::BytesMut::new();
            numeric_from_i64(i, &mut out);
            assert_eq!(numeric_value(&out).unwrap(), ValueRef::Integer(i), "{i}");
        }
        // 12.5: two groups (12, 5000), weight 0, scale 1.
        let raw = [0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88];
        assert_eq!(numeric_value(&raw).unwrap(), ValueRef::Real(12.5));
    }
}
