//! The SQL connection every store module speaks, whatever the backend: [`Db`] runs a statement,
//! [`Row`] reads a column, [`Params`] binds values. Store modules write their SQL once, in the
//! subset SQLite and PostgreSQL share (numbered `?N` placeholders, `ON CONFLICT`, `RETURNING`,
//! `COLLATE NOCASE`), and ask [`Db::dialect`] for the few expressions that differ.
//!
//! Values cross as five kinds, SQLite's own ([`ValueRef`]): integers (`i64`), reals (`f64`),
//! text, blobs and NULL. Every integer column is 64-bit on both backends, flags are integers 0/1,
//! instants are milliseconds since the Unix epoch and local dates day numbers (see `store::millis`
//! and `store::day_number`), so no column needs a type of its own.

use std::fmt;

use rusqlite::types::{ToSqlOutput, ValueRef as SqliteValueRef};

/// The backend a [`Db`] talks to, for the few expressions the two dialects spell differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
}

/// An error from running a statement or reading what it returned.
#[derive(Debug)]
pub enum Error {
    /// SQLite refused or failed the statement.
    Sqlite(rusqlite::Error),
    /// A row was expected and the statement returned none (`query_row`).
    NoRows,
    /// Column `column` held something its reader cannot take (`expected`, `found`).
    Conversion { column: usize, expected: &'static str, found: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "{e}"),
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
            _ => None,
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
}

impl Row<'_> {
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

/// A connection to the store's database. The SQLite writer and readers each own one.
pub struct Db {
    conn: Conn,
}

enum Conn {
    Sqlite(rusqlite::Connection),
}

impl Db {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Db {
        Db { conn: Conn::Sqlite(conn) }
    }

    /// The SQLite connection underneath, for what only SQLite has (pragmas, checkpoints).
    pub(crate) fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.conn {
            Conn::Sqlite(c) => Some(c),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match &self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// A statement, prepared once per connection and kept for the next call with the same text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Stmt(StmtInner::Sqlite(c.prepare_cached(sql)?))),
        }
    }

    /// A statement for one use (text built at run time, which would only crowd the cache).
    pub fn prepare(&self, sql: &str) -> Result<Stmt<'_>> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(Stmt(StmtInner::SqliteOnce(c.prepare(sql)?))),
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
        }
    }

    /// The first row of one statement, read by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// A prepared statement ([`Db::prepare_cached`]).
pub struct Stmt<'c>(StmtInner<'c>);

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    SqliteOnce(rusqlite::Statement<'c>),
}

impl<'c> StmtInner<'c> {
    fn sqlite(&mut self) -> Option<&mut rusqlite::Statement<'c>> {
        match self {
            StmtInner::Sqlite(s) => Some(s),
            StmtInner::SqliteOnce(s) => Some(s),
        }
    }
}

impl Stmt<'_> {
    /// Runs the statement; the number of rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        match self.0.sqlite() {
            Some(s) => params.bind(|v| Ok(s.execute(rusqlite::params_from_iter(v))?)),
            None => unreachable!("only SQLite statements exist yet"),
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
        match self.0.sqlite() {
            Some(s) => {
                let rows = params.bind(|v| s.query(rusqlite::params_from_iter(v)))?;
                Ok(Rows(RowsInner::Sqlite(rows)))
            }
            None => unreachable!("only SQLite statements exist yet"),
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
}

impl Rows<'_> {
    /// The next row, or `None` after the last.
    #[allow(clippy::should_implement_trait)] // each row borrows the cursor: not an Iterator
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.0 {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(|r| Row(RowInner::Sqlite(r)))),
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
