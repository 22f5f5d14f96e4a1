//! Import files as other tools save them: each delimiter and line ending, byte-order marks,
//! quoted fields across lines, other headers, other number formats and local times; every line
//! number is the physical line an editor shows.

use rally::app::AppError;
use rally::app::csv_dialect::ColumnMap;
use rally::app::import::{COLUMNS, ImportOptions, ImportSummary};
use rally::domain::money::{Currency, NumberFormat};

use crate::helpers::*;

const NOW: &str = "2026-11-27T12:00:00Z";

async fn import_with(t: &TestApp, guild: u64, bytes: &[u8], options: &ImportOptions) -> Result<ImportSummary, String> {
    t.app.import_csv_with(id(guild), bytes, options, "test".into(), at(NOW)).await.map_err(|e| match e {
        AppError::User(m) => m,
        other => panic!("internal error: {other:?}"),
    })
}

/// Sets a guild's timezone, EUR, and a number format.
async fn set_money(t: &TestApp, guild: u64, tz: &str, format: NumberFormat) {
    let change = rally::app::settings::SettingsChange {
        timezone: Some(tz.parse().unwrap()),
        currency: Some(Currency::parse("EUR").unwrap()),
        number_format: Some(format),
        ..Default::default()
    };
    t.app.change_settings(id(guild), change, "test".into(), at(NOW)).await.unwrap();
}

fn lines(s: &ImportSummary) -> Vec<u64> {
    s.rejected.iter().map(|r| r.line).collect()
}

/// Six records over eight physical lines: a note spans two lines, and two rows are bad.
fn fixture(delimiter: &str, eol: &str) -> String {
    let rows = [
        "occurred_at,user_id,user_name,team,kind,quantity,amount,note".to_string(),
        "2026-11-02T09:00:00Z,101,Alice,Alpha,call,12,,".into(),
        format!("2026-11-02T10:00:00Z,101,Alice,Alpha,won,1,1250,\"Acme{eol}renewal\""),
        "2026-11-02T11:00:00Z,102,Bob,Alpha,dance,1,,".into(),
        "2026-11-02T12:00:00Z,102,Bob,Alpha,demo,2,,".into(),
        "2026-11-02T13:00:00Z,102,Bob,Alpha,won,1,lots,".into(),
        "2026-11-02T14:00:00Z,103,Cara,Beta,meeting,1,,\"said \"\"yes\"\"\"".into(),
    ];
    rows.iter().map(|r| r.replace(',', delimiter) + eol).collect()
}

#[tokio::test]
async fn every_delimiter_and_line_ending_reads_alike_and_names_the_physical_line_of_each_bad_row() {
    for delimiter in [",", ";", "\t", "|"] {
        for (eol, name) in [("\n", "LF"), ("\r\n", "CRLF"), ("\r", "CR")] {
            for bom in [false, true] {
                let t = spawn_app();
                let mut bytes = if bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
                bytes.extend(fixture(delimiter, eol).into_bytes());
                let what = format!("{delimiter:?} {name} bom:{bom}");
                let s = import_with(&t, 1, &bytes, &ImportOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(lines(&s), [5, 7], "{what}: {:?}", s.rejected);
                assert!(
                    s.rejected[0].reason.starts_with("`dance` is not an activity kind here"),
                    "{what}: {:?}",
                    s.rejected
                );
                assert_eq!(s.imported, 4, "{what}");
                assert!(s.read_as.delimiter_detected, "{what}");
                let export = t.app.export_json(id(1), &"2026-11".parse().unwrap(), at(NOW)).await.unwrap();
                let notes: Vec<&str> = export.as_array().unwrap().iter().filter_map(|r| r["note"].as_str()).collect();
                assert!(
                    notes.contains(&"Acme\nrenewal"),
                    "{what}: a multi-line note keeps its break as \\n: {notes:?}"
                );
                assert!(notes.contains(&"said \"yes\""), "{what}: {notes:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_european_spreadsheet_file_imports_with_its_decimal_commas_and_local_times() {
    let t = spawn_app();
    set_money(&t, 1, "Europe/Berlin", NumberFormat::DotComma).await;
    let file = "\u{feff}Occurred At;User ID;User Name;Team;Kind;Quantity;Amount\r\n\
                2026-11-02 09:00;101;Alice;Alpha;won;1;1.250,50\r\n\
                2026-11-02T10:00:00;101;Alice;Alpha;won;1;0,99\r\n\
                2026-11-03;102;Bob;Alpha;call;3;\r\n\
                2026-11-03T08:00:00+01:00;102;Bob;Alpha;won;1;12,5\r\n\
                2026-11-04 09:00;102;Bob;Alpha;won;1;1250.50\r\n";
    let s = import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!(s.imported, 4, "{:?}", s.rejected);
    assert_eq!(lines(&s), [6]);
    assert!(
        s.rejected[0].reason.contains("in the 1,234.56 format it would mean 1.250,50\u{a0}EUR"),
        "{:?}",
        s.rejected
    );
    assert_eq!((s.times.with_offset, s.times.local, s.times.date_only), (1, 2, 1));
    assert_eq!(s.read_as.delimiter, ";");
    let report = t.app.report(id(1), &"2026-11".parse().unwrap(), None, at(NOW)).await.unwrap();
    assert_eq!(report.totals.revenue, 125_050 + 99 + 1_250);
    // 09:00 in Berlin in November is 08:00 UTC; a bare date is noon local.
    let export = t.app.export_json(id(1), &"2026-11".parse().unwrap(), at(NOW)).await.unwrap();
    let times: Vec<&str> = export.as_array().unwrap().iter().filter_map(|r| r["occurred_at"].as_str()).collect();
    assert!(times.contains(&"2026-11-02T09:00:00+01:00") && times.contains(&"2026-11-03T12:00:00+01:00"), "{times:?}");
}

#[tokio::test]
async fn a_file_in_another_number_format_is_refused_row_by_row_with_a_hint_and_reads_with_number_format() {
    let t = spawn_app();
    let file = "occurred_at;user_id;user_name;kind;quantity;amount\n\
                2026-11-02T09:00:00Z;101;Alice;won;1;1250,50\n\
                2026-11-02T10:00:00Z;101;Alice;won;1;0,99\n";
    let s = import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!(s.imported, 0);
    assert_eq!(lines(&s), [2, 3]);
    assert_eq!(
        s.hints,
        ["2 amounts refused here read in the 1.234,56 or 1 234,56 number format: if the file writes amounts that \
          way, import it again with --number-format '1.234,56' (or '1 234,56')"]
    );
    let options = ImportOptions { number_format: Some(NumberFormat::DotComma), ..Default::default() };
    let s = import_with(&t, 1, file.as_bytes(), &options).await.unwrap();
    assert_eq!(s.imported, 2);
    assert_eq!(s.read_as.number_format, "1.234,56");
    let report = t.app.report(id(1), &"2026-11".parse().unwrap(), None, at(NOW)).await.unwrap();
    assert_eq!(report.totals.revenue, 125_050 + 99);
}

#[tokio::test]
async fn another_tools_headers_are_mapped_with_columns() {
    let t = spawn_app();
    let file = "Due date,Owner,Owner name,Type,Count,Value\n2026-11-02 09:00,101,Alice,call,3,\n";
    let err = import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap_err();
    assert_eq!(
        err,
        "no column matches `occurred_at`, `user_id`, `user_name`, `kind`, `quantity`; the file's columns are: \
         `Due date`, `Owner`, `Owner name`, `Type`, `Count`, `Value`. Rename the header, or map it with \
         --columns occurred_at=\"Your header\""
    );
    let map = ColumnMap::parse(
        "occurred_at=\"Due date\",user_id=Owner,user_name=owner NAME,kind=Type,quantity=Count,amount=Value",
        &COLUMNS,
    )
    .unwrap();
    let s = import_with(&t, 1, file.as_bytes(), &ImportOptions { columns: map, ..Default::default() }).await.unwrap();
    assert_eq!((s.imported, s.rejected.len()), (1, 0));
    let map = ColumnMap::parse("occurred_at=When", &COLUMNS).unwrap();
    let err =
        import_with(&t, 1, file.as_bytes(), &ImportOptions { columns: map, ..Default::default() }).await.unwrap_err();
    assert!(err.starts_with("--columns maps occurred_at to `When`, but the file has no such column"), "{err}");
}

#[tokio::test]
async fn a_wrong_delimiter_is_diagnosed_and_an_ambiguous_header_asks() {
    let t = spawn_app();
    let file = "occurred_at;user_id;user_name;kind;quantity\n2026-11-02T09:00:00Z;101;Alice;call;1\n";
    let options = ImportOptions { delimiter: Some(b','), ..Default::default() };
    let err = import_with(&t, 1, file.as_bytes(), &options).await.unwrap_err();
    assert!(err.starts_with("this file looks `;`-separated (its header holds 4 of them and no `,`)"), "{err}");
    let err = import_with(&t, 1, b"occurred_at,user_id;user_name\n", &ImportOptions::default()).await.unwrap_err();
    assert!(err.contains("holds as many `,` as `;`") && err.contains("--delimiter"), "{err}");
    let utf16 = [0xFF, 0xFE, b'o', 0, b'c', 0];
    let err = import_with(&t, 1, &utf16, &ImportOptions::default()).await.unwrap_err();
    assert!(err.contains("UTF-16") && err.contains("UTF-8"), "{err}");
    assert_eq!(t.app.store.audit_count(1).await.unwrap(), 0, "a refused file changes nothing");
}

#[tokio::test]
async fn a_win_without_an_amount_is_a_warning_and_a_row_in_another_currency_is_refused() {
    let t = spawn_app();
    let file = "occurred_at,user_id,user_name,kind,quantity,amount,currency\n\
                2026-11-02T09:00:00Z,101,Alice,won,1,,\n\
                2026-11-02T10:00:00Z,101,Alice,won,1,100.00,GBP\n\
                2026-11-02T11:00:00Z,101,Alice,won,1,100.00,usd\n";
    let s = import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!(s.imported, 2);
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(s.warnings[0].line, 2);
    assert!(s.warnings[0].reason.contains("without an amount counts as a deal won with no revenue"));
    assert_eq!(lines(&s), [3]);
    assert!(
        s.rejected[0].reason.contains("the row is in GBP, but this server counts money in USD"),
        "{:?}",
        s.rejected
    );
}

#[tokio::test]
async fn an_export_in_a_european_format_imports_back_unchanged() {
    let t = spawn_app();
    set_money(&t, 1, "UTC", NumberFormat::SpaceComma).await;
    set_money(&t, 2, "UTC", NumberFormat::SpaceComma).await;
    let file =
        "occurred_at,user_id,user_name,kind,quantity,amount\n2026-11-02T09:00:00Z,101,Alice,won,1,\"1 234 567,89\"\n";
    assert_eq!(import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap().imported, 1);
    let mut csv = Vec::new();
    t.app.export_csv(id(1), &"2026-11".parse().unwrap(), at(NOW), &mut csv).await.unwrap();
    let text = String::from_utf8(csv.clone()).unwrap();
    // A decimal-comma server exports `;`-separated, as its spreadsheets expect.
    assert!(text.starts_with("occurred_at;user_id;") && text.trim_end().ends_with(";EUR"), "{text}");
    assert!(text.contains("1\u{a0}234\u{a0}567,89"), "{text}");
    let s = import_with(&t, 2, &csv, &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.rejected.len()), (1, 0), "{:?}", s.rejected);
    // For Excel: a byte-order mark and CRLF, and it still imports back.
    let excel = rally::app::import::ExportOptions { excel: true, ..Default::default() };
    let mut csv = Vec::new();
    t.app.export_csv_with(id(1), &"2026-11".parse().unwrap(), &excel, at(NOW), &mut csv).await.unwrap();
    assert!(csv.starts_with(&[0xEF, 0xBB, 0xBF]) && csv.ends_with(b";EUR\r\n"), "{:?}", String::from_utf8_lossy(&csv));
    let s = import_with(&t, 2, &csv, &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.duplicates), (0, 1), "the same row, counted once");
    let report = t.app.report(id(2), &"2026-11".parse().unwrap(), None, at(NOW)).await.unwrap();
    assert_eq!(report.totals.revenue, 123_456_789);
}

#[tokio::test]
async fn the_same_rows_spelled_another_way_count_once_and_a_corrected_row_is_reported_not_applied() {
    let t = spawn_app();
    set_money(&t, 1, "Europe/Berlin", NumberFormat::DotComma).await;
    // Two wins in the same minute are two rows; the call has an external id.
    let first = "occurred_at;user_id;user_name;kind;quantity;amount;external_id\n\
                 2026-11-20 10:00;101;Udo;won;1;12.000;\n\
                 2026-11-20 10:00;101;Udo;won;1;300;\n\
                 2026-11-20 11:00;101;Udo;call;1;;crm-7\n";
    assert_eq!(import_with(&t, 1, first.as_bytes(), &ImportOptions::default()).await.unwrap().imported, 3);
    let revenue = |t: &TestApp| {
        let app = t.app.clone();
        async move { app.report(id(1), &"2026-11".parse().unwrap(), None, at(NOW)).await.unwrap().totals.revenue }
    };
    assert_eq!(revenue(&t).await, 1_230_000);
    // Another tool's spelling of the rows: an offset, decimal commas, an explicit quantity; and a
    // file that holds only one of the two wins matches that one, never the other.
    let again = "occurred_at,user_id,user_name,kind,quantity,amount,external_id\n\
                 2026-11-20T09:00:00Z,101,Udo,won,1,\"300,00\",\n\
                 2026-11-20T10:00:00+01:00,101,Udo,won,,\"12.000,00\",\n\
                 2026-11-20T10:00:00Z,101,Udo,call,1,,crm-7\n";
    let s = import_with(&t, 1, again.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.duplicates, s.changed.len()), (0, 3, 0), "{s:?}");
    let only_one = "occurred_at;user_id;user_name;kind;quantity;amount\n2026-11-20 10:00;101;Udo;won;1;300\n";
    let s = import_with(&t, 1, only_one.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.duplicates, s.changed.len()), (0, 1, 0), "{s:?}");
    assert_eq!(revenue(&t).await, 1_230_000);
    // A row with an external id that the file corrects is reported, not applied nor counted twice.
    let corrected = "occurred_at;user_id;user_name;kind;quantity;external_id\n2026-11-20 11:00;101;Udo;call;4;crm-7\n";
    let s = import_with(&t, 1, corrected.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.duplicates), (0, 0));
    assert_eq!(s.changed.iter().map(|c| c.line).collect::<Vec<_>>(), [2]);
    assert!(s.changed[0].reason.contains("quantity 1 → 4"), "{:?}", s.changed);
    assert!(s.changed[0].reason.contains("run it through `rally import --remove`, then import it again"));
    // The way the message says: remove with the corrected file, then import it.
    let removed = t.app.remove_csv(id(1), corrected.as_bytes(), "test".into(), at(NOW)).await.unwrap();
    assert_eq!(removed.removed, 1);
    assert_eq!(import_with(&t, 1, corrected.as_bytes(), &ImportOptions::default()).await.unwrap().imported, 1);
    let report = t.app.report(id(1), &"2026-11".parse().unwrap(), None, at(NOW)).await.unwrap();
    assert_eq!(report.totals.counts.get("call"), Some(&4));
    assert!(t.app.store.verify_rollups(Some(1)).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_row_rally_0_1_imported_under_its_text_key_is_not_counted_again() {
    use rally::domain::activity::{KindName, Note, Quantity, Source};
    let t = spawn_app();
    let line = ["2026-11-02T09:00:00Z", "101", "Alice", "call", "3"];
    // rally 0.1's key: FNV-1a over the row's trimmed fields joined by U+001F, and the row's rank.
    let fnv = |text: &str| {
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    };
    let legacy = format!("row:{:016x}:1", fnv(&line.join("\u{1f}")));
    let old = rally::store::NewActivity {
        guild: 1,
        user: 101,
        user_name: "Alice".into(),
        team: None,
        kind: KindName::parse("call").unwrap(),
        quantity: Quantity::new(3).unwrap(),
        amount: None,
        occurred_at: at("2026-11-02T09:00:00Z"),
        note: Note::default(),
        deal: None,
        source: Source::Import,
        idem_key: legacy,
        alt_key: None,
        actor: 0,
    };
    t.app.store.log_activity(old, at(NOW)).await.unwrap();
    let file = format!("occurred_at,user_id,user_name,kind,quantity\n{}\n", line.join(","));
    let s = import_with(&t, 1, file.as_bytes(), &ImportOptions::default()).await.unwrap();
    assert_eq!((s.imported, s.duplicates), (0, 1), "{s:?}");
    let removed = t.app.remove_csv(id(1), file.as_bytes(), "test".into(), at(NOW)).await.unwrap();
    assert_eq!(removed.removed, 1, "the old key is found by removal too");
}
