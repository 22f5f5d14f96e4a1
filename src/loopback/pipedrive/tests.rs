//! Tests of the loopback Pipedrive, driven over HTTP with reqwest as rally's client will drive it: Pipedrive's shapes
//! (checked against the descriptions' response schemas), strictness, paging, rate limits and Webhooks v2 delivery.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::spec::{Api, Specs};
use super::*;

const TOKEN: &str = DEFAULT_TOKEN;
const QUICK: Duration = Duration::from_secs(5);

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T09:15:00Z").map(|t| t.to_utc()).unwrap_or_default()
}

async fn start_with(options: PdOptions) -> PipedriveLoopback {
    let dir = openapi_dir_for_tests();
    match PipedriveLoopback::start_with(options, dir.as_deref()).await {
        Ok(pd) => pd,
        Err(e) => panic!("the loopback did not start with {dir:?}: {e}"),
    }
}

async fn start() -> PipedriveLoopback {
    let pd = start_with(PdOptions { retry_delays: vec![Duration::from_millis(20); 3], ..PdOptions::default() }).await;
    pd.set_clock(Some(t0()));
    pd
}

/// Tests of the descriptions' checks have nothing to test without them.
fn validating() -> bool {
    openapi_dir_for_tests().is_some()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("a reqwest client")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the loopback answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, not {text:?}"));
    Answer { status, headers, body }
}

async fn get(pd: &PipedriveLoopback, path_and_query: &str) -> Answer {
    send(client().get(format!("{}{path_and_query}", pd.url())).header("x-api-token", TOKEN)).await
}

fn assert_clean(pd: &PipedriveLoopback) {
    assert_eq!(pd.violations(), Vec::<String>::new(), "unexpected violations");
}

fn activity(subject: &str, owner_id: i64) -> PdActivity {
    PdActivity { subject: subject.into(), r#type: "call".into(), owner_id, ..PdActivity::default() }
}

fn ids(body: &Value) -> Vec<i64> {
    body["data"].as_array().map(|items| items.iter().filter_map(|i| i["id"].as_i64()).collect()).unwrap_or_default()
}

fn next_cursor(body: &Value) -> Option<String> {
    body["additional_data"]["next_cursor"].as_str().map(str::to_string)
}

/// Pages through `path` (which already has a `?`) and returns every item in order.
async fn all_pages(pd: &PipedriveLoopback, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let answer = get(pd, &url).await;
        assert_eq!(answer.status, 200, "{url}: {}", answer.body);
        items.extend(answer.body["data"].as_array().cloned().unwrap_or_default());
        cursor = next_cursor(&answer.body);
        if cursor.is_none() {
            return items;
        }
    }
}

// ---- shapes and paging ----

#[tokio::test]
async fn activities_are_listed_in_pipedrives_v2_shape_with_a_cursor_until_the_last_page() {
    let pd = start().await;
    for i in 0..250 {
        let mut a = activity(&format!("Call {i}"), 1 + i % 2);
        if i == 0 {
            a.due_date = NaiveDate::from_ymd_opt(2026, 11, 3);
            a.due_time = NaiveTime::from_hms_opt(15, 30, 0);
            a.deal_id = Some(9);
            a.done = true;
        }
        pd.put_activity(a);
    }
    let first = get(&pd, "/api/v2/activities").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["success"], true);
    assert_eq!(ids(&first.body), (1..=100).collect::<Vec<_>>(), "100 by default, by id ascending");
    let one = &first.body["data"][0];
    assert_eq!(one["subject"], "Call 0");
    assert_eq!(one["type"], "call");
    assert_eq!(one["due_date"], "2026-11-03");
    assert_eq!(one["due_time"], "15:30:00");
    assert_eq!(one["deal_id"], 9);
    assert_eq!(one["done"], true);
    assert_eq!(one["marked_as_done_time"], "2026-11-02T09:15:00Z");
    assert_eq!(one["add_time"], "2026-11-02T09:15:00Z");
    assert_eq!(one["update_time"], "2026-11-02T09:15:00Z");
    assert_eq!(first.body["data"][1]["deal_id"], Value::Null);

    let all = all_pages(&pd, "/api/v2/activities?limit=100").await;
    assert_eq!(all.len(), 250);
    let last = get(&pd, "/api/v2/activities?limit=500").await;
    assert_eq!(ids(&last.body).len(), 250);
    assert_eq!(last.body["additional_data"]["next_cursor"], Value::Null, "null on the last page");
    assert_clean(&pd);
}

#[tokio::test]
async fn cursor_pages_never_repeat_or_skip_an_activity_updated_mid_paging() {
    let pd = start().await;
    for i in 0..30 {
        pd.put_activity(activity(&format!("a{i}"), 1));
    }
    for sort in ["id", "update_time"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut page = 0;
        loop {
            let mut url = format!("/api/v2/activities?limit=7&sort_by={sort}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let answer = get(&pd, &url).await;
            seen.extend(ids(&answer.body));
            page += 1;
            // Between pages, edit one item already served and one not served yet, a second later each time.
            pd.set_clock(Some(t0() + TimeDelta::seconds(page)));
            let served = seen[0];
            let ahead = (1..=30).find(|id| !seen.contains(id));
            for id in [Some(served), ahead].into_iter().flatten() {
                let mut a = pd.activity(id).expect("stored");
                a.subject.push('!');
                pd.put_activity(a);
            }
            cursor = next_cursor(&answer.body);
            if cursor.is_none() {
                break;
            }
        }
        let distinct: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(distinct, (1..=30).collect(), "sort_by={sort}: every activity is served");
        if sort == "id" {
            assert_eq!(seen.len(), 30, "sort_by=id: none twice");
        }
    }
    assert_clean(&pd);
}

#[tokio::test]
async fn sorting_by_update_time_serves_the_latest_edit_last_and_desc_reverses_it() {
    let pd = start().await;
    for i in 0..5 {
        pd.put_activity(activity(&format!("a{i}"), 1));
    }
    pd.set_clock(Some(t0() + TimeDelta::minutes(1)));
    let mut a = pd.activity(2).expect("stored");
    a.done = true;
    pd.put_activity(a);
    let asc = get(&pd, "/api/v2/activities?sort_by=update_time").await;
    assert_eq!(ids(&asc.body), [1, 3, 4, 5, 2]);
    let desc = get(&pd, "/api/v2/activities?sort_by=update_time&sort_direction=desc&limit=2").await;
    assert_eq!(ids(&desc.body), [2, 5]);
    let cursor = next_cursor(&desc.body).expect("more");
    let rest =
        get(&pd, &format!("/api/v2/activities?sort_by=update_time&sort_direction=desc&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&rest.body), [4, 3]);
    assert_clean(&pd);
}

#[tokio::test]
async fn updated_since_is_inclusive_and_updated_until_exclusive() {
    let pd = start().await;
    for minute in 0..5 {
        pd.set_clock(Some(t0() + TimeDelta::minutes(minute)));
        pd.put_activity(activity(&format!("at +{minute}m"), 1));
    }
    let since = "2026-11-02T09:16:00Z";
    let until = "2026-11-02T09:18:00Z";
    for sort in ["id", "update_time"] {
        let window =
            get(&pd, &format!("/api/v2/activities?updated_since={since}&updated_until={until}&sort_by={sort}")).await;
        assert_eq!(ids(&window.body), [2, 3], "sort_by={sort}");
    }
    // An offset must be percent-encoded: a bare `+` in a query string is a space.
    let offset = get(&pd, "/api/v2/activities?updated_since=2026-11-02T10:17:00%2B01:00").await;
    assert_eq!(ids(&offset.body), [3, 4, 5]);
    assert_clean(&pd);
    let bare_plus = get(&pd, "/api/v2/activities?updated_since=2026-11-02T10:17:00+01:00").await;
    assert_eq!(bare_plus.status, 400);
    assert!(
        pd.violations().iter().any(|v| v.contains("updated_since") && v.contains("RFC 3339")),
        "{:?}",
        pd.violations()
    );
}

#[tokio::test]
async fn owner_done_and_deal_filters_select_activities() {
    let pd = start().await;
    for i in 0..10 {
        let mut a = activity(&format!("a{i}"), if i < 4 { 7 } else { 8 });
        a.done = i % 2 == 0;
        a.deal_id = (i == 9).then_some(42);
        pd.put_activity(a);
    }
    assert_eq!(ids(&get(&pd, "/api/v2/activities?owner_id=7").await.body), [1, 2, 3, 4]);
    assert_eq!(ids(&get(&pd, "/api/v2/activities?owner_id=7&done=true").await.body), [1, 3]);
    assert_eq!(ids(&get(&pd, "/api/v2/activities?deal_id=42").await.body), [10]);
    assert_eq!(ids(&get(&pd, "/api/v2/activities?ids=2,5,99").await.body), [2, 5]);
    assert_eq!(ids(&get(&pd, "/api/v2/activities?person_id=1").await.body), Vec::<i64>::new());
    assert_clean(&pd);
}

#[tokio::test]
async fn a_deleted_activity_is_gone_from_the_list() {
    let pd = start().await;
    let keep = pd.put_activity(activity("keep", 1));
    let gone = pd.put_activity(activity("gone", 1));
    pd.delete_activity(gone);
    assert_eq!(ids(&get(&pd, "/api/v2/activities").await.body), [keep]);
    assert_eq!(pd.activity(gone), None);
    assert_clean(&pd);
}

fn deal(title: &str, status: &str) -> PdDeal {
    PdDeal {
        title: title.into(),
        owner_id: 1,
        value: 1200.0,
        currency: "EUR".into(),
        stage_id: 1,
        pipeline_id: 1,
        status: status.into(),
        ..PdDeal::default()
    }
}

#[tokio::test]
async fn a_deleted_deal_is_listed_only_with_status_deleted() {
    let pd = start().await;
    let open = pd.put_deal(deal("Open", "open"));
    let won = pd.put_deal(deal("Won", "won"));
    let deleted = pd.put_deal(deal("Deleted", "lost"));
    pd.delete_deal(deleted);
    assert_eq!(ids(&get(&pd, "/api/v2/deals").await.body), [open, won]);
    assert_eq!(ids(&get(&pd, "/api/v2/deals?status=won").await.body), [won]);
    assert_eq!(ids(&get(&pd, "/api/v2/deals?status=lost").await.body), Vec::<i64>::new());
    let listed = get(&pd, "/api/v2/deals?status=deleted").await;
    assert_eq!(ids(&listed.body), [deleted]);
    assert_eq!(listed.body["data"][0]["is_deleted"], true);
    assert_eq!(pd.deal(deleted).map(|d| d.is_deleted), Some(true));
    assert_clean(&pd);
}

#[tokio::test]
async fn a_deal_is_served_with_its_value_in_major_units_and_its_close_times() {
    let pd = start().await;
    pd.put_deal(PdDeal { value: 1234.5, ..deal("Acme", "won") });
    pd.put_deal(PdDeal { expected_close_date: NaiveDate::from_ymd_opt(2026, 12, 1), ..deal("Globex", "open") });
    let listed = get(&pd, "/api/v2/deals").await;
    let won = &listed.body["data"][0];
    assert_eq!(won["value"], json!(1234.5));
    assert_eq!(won["currency"], "EUR");
    assert_eq!(won["status"], "won");
    assert_eq!(won["won_time"], "2026-11-02T09:15:00Z");
    assert_eq!(won["close_time"], "2026-11-02T09:15:00Z");
    let open = &listed.body["data"][1];
    assert_eq!(open["value"].to_string(), "1200", "a whole amount is an integer, as Pipedrive writes it");
    assert_eq!(open["expected_close_date"], "2026-12-01");
    assert_eq!(open["won_time"], Value::Null);
    assert_clean(&pd);
}

#[tokio::test]
async fn stages_pipelines_users_and_activity_types_are_listed() {
    let pd = start().await;
    pd.add_pipeline(1, "Sales");
    pd.add_stage(2, 1, "Demo", 2, 50);
    pd.add_stage(1, 1, "Lead", 1, 10);
    pd.add_stage(3, 9, "Elsewhere", 1, 10);
    pd.add_user(1, "Alice", "alice@example.com");
    pd.add_user(2, "Bob", "bob@example.com");
    pd.add_activity_type("call", "Call");
    pd.add_activity_type("demo", "Demo");
    assert_eq!(ids(&get(&pd, "/api/v2/stages?pipeline_id=1&sort_by=order_nr").await.body), [1, 2]);
    let stages = get(&pd, "/api/v2/stages?pipeline_id=1").await;
    assert_eq!(stages.body["data"][1]["deal_probability"], 50);
    assert_eq!(ids(&get(&pd, "/api/v2/pipelines").await.body), [1]);
    let users = get(&pd, "/v1/users").await;
    assert_eq!(ids(&users.body), [1, 2]);
    assert_eq!(users.body["data"][0]["is_you"], true);
    assert_eq!(users.body["data"][1]["email"], "bob@example.com");
    let types = get(&pd, "/v1/activityTypes").await;
    assert_eq!(ids(&types.body), [1, 2]);
    assert_eq!(types.body["data"][1]["key_string"], "demo");
    assert_eq!(types.body["data"][1]["is_custom_flag"], true);
    assert_clean(&pd);
}

// ---- strictness ----

#[tokio::test]
async fn a_query_parameter_the_spec_does_not_declare_is_a_violation() {
    if !validating() {
        return;
    }
    let pd = start().await;
    let answer = get(&pd, "/api/v2/activities?user_id=1").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["success"], false);
    let violations = pd.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("getActivities") && violations[0].contains("`user_id`"), "{violations:?}");
    // The v1 habit of passing the token in the query is not allowed either.
    get(&pd, "/api/v2/deals?api_token=loopback-pipedrive-token").await;
    assert!(pd.violations()[1].contains("`api_token` is not declared"), "{:?}", pd.violations());
}

#[tokio::test]
async fn a_value_that_does_not_fit_its_schema_is_a_violation() {
    if !validating() {
        return;
    }
    let pd = start().await;
    for (query, names) in [
        ("done=yes", "`done`"),
        ("owner_id=alice", "`owner_id`"),
        ("sort_by=subject", "`sort_by`"),
        ("sort_direction=up", "`sort_direction`"),
        ("limit=0", "`limit`"),
        ("owner_id=1&owner_id=2", "more than once"),
    ] {
        let before = pd.violations().len();
        let answer = get(&pd, &format!("/api/v2/activities?{query}")).await;
        assert_eq!(answer.status, 400, "{query}");
        let new = &pd.violations()[before..];
        assert!(new.iter().any(|v| v.contains(names) && v.contains("getActivities")), "{query}: {new:?}");
    }
    get(&pd, "/api/v2/deals?status=archived").await;
    assert!(pd.violations().last().is_some_and(|v| v.contains("getDeals") && v.contains("`status`")));
}

#[tokio::test]
async fn a_limit_over_500_is_refused_as_pipedrive_refuses_it() {
    let pd = start().await;
    let answer = get(&pd, "/api/v2/activities?limit=501").await;
    assert_eq!(answer.status, 400);
    assert!(pd.violations().iter().any(|v| v.contains("`limit`")), "{:?}", pd.violations());
    assert_eq!(get(&pd, "/api/v2/activities?limit=99999999999999999999999").await.status, 400);
}

#[tokio::test]
async fn a_cursor_the_api_did_not_issue_or_made_for_another_sort_is_refused() {
    let pd = start().await;
    for i in 0..3 {
        pd.put_activity(activity(&format!("a{i}"), 1));
    }
    let first = get(&pd, "/api/v2/activities?limit=1").await;
    let cursor = next_cursor(&first.body).expect("more pages");
    assert_eq!(get(&pd, &format!("/api/v2/activities?limit=1&cursor={cursor}")).await.status, 200);
    assert_clean(&pd);
    let other_sort = get(&pd, &format!("/api/v2/activities?limit=1&sort_by=update_time&cursor={cursor}")).await;
    assert_eq!(other_sort.status, 400);
    assert!(pd.violations()[0].contains("cursor was made for sort_by=id"), "{:?}", pd.violations());
    assert_eq!(get(&pd, "/api/v2/activities?cursor=page2").await.status, 400);
    assert!(pd.violations()[1].contains("not a cursor"), "{:?}", pd.violations());
}

#[tokio::test]
async fn an_unknown_path_or_method_is_a_404_violation() {
    let pd = start().await;
    assert_eq!(get(&pd, "/api/v2/activityz").await.status, 404);
    assert_eq!(get(&pd, "/v2/activities").await.status, 404);
    let put = send(client().put(format!("{}/v1/users", pd.url())).header("x-api-token", TOKEN)).await;
    assert_eq!(put.status, 404);
    let violations = pd.violations();
    assert_eq!(violations.len(), 3, "{violations:?}");
    if validating() {
        assert!(violations[2].contains("/v1/users has only GET, POST"), "{violations:?}");
    }
}

#[tokio::test]
async fn an_operation_the_loopback_does_not_serve_is_a_501_violation() {
    if !validating() {
        return;
    }
    let pd = start().await;
    let answer = get(&pd, "/api/v2/activities/5").await;
    assert_eq!(answer.status, 501);
    assert!(pd.violations()[0].contains("getActivity"), "{:?}", pd.violations());
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_a_401_that_is_recorded_but_no_violation() {
    let pd = start().await;
    let none = send(client().get(format!("{}/api/v2/activities", pd.url()))).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.body,
        json!({"success": false, "error": "unauthorized access", "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API."})
    );
    let wrong = send(client().get(format!("{}/v1/users", pd.url())).header("x-api-token", "nope")).await;
    assert_eq!(wrong.status, 401);
    let statuses: Vec<u16> = pd.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401]);
    assert_clean(&pd);
}

#[tokio::test]
async fn a_webhook_body_that_does_not_fit_the_request_schema_is_a_violation() {
    if !validating() {
        return;
    }
    let pd = start().await;
    let post =
        |body: Value| client().post(format!("{}/v1/webhooks", pd.url())).header("x-api-token", TOKEN).json(&body);
    // `name` is required by the description.
    let nameless = send(post(json!({"subscription_url": "http://127.0.0.1:9/h", "event_action": "*",
                                    "event_object": "deal"})))
    .await;
    assert_eq!(nameless.status, 400);
    assert!(pd.violations()[0].contains("addWebhook") && pd.violations()[0].contains("name"), "{:?}", pd.violations());
    let typo = send(post(json!({"subscription_url": "http://127.0.0.1:9/h", "event_action": "*",
                                "event_object": "deal", "name": "rally", "http_auth_usr": "rally"})))
    .await;
    assert_eq!(typo.status, 400);
    assert!(pd.violations()[1].contains("http_auth_usr"), "{:?}", pd.violations());
    let bad_enum = send(post(json!({"subscription_url": "http://127.0.0.1:9/h", "event_action": "updated",
                                    "event_object": "deal", "name": "rally"})))
    .await;
    assert_eq!(bad_enum.status, 400);
    let not_json = client()
        .post(format!("{}/v1/webhooks", pd.url()))
        .header("x-api-token", TOKEN)
        .header("content-type", "application/json")
        .body("{not json");
    assert_eq!(send(not_json).await.status, 400);
    let form = client().post(format!("{}/v1/webhooks", pd.url())).header("x-api-token", TOKEN).form(&[("name", "x")]);
    assert_eq!(send(form).await.status, 400);
    let body_on_get =
        client().get(format!("{}/v1/users", pd.url())).header("x-api-token", TOKEN).json(&json!({"x": 1}));
    assert_eq!(send(body_on_get).await.status, 400);
    assert_eq!(pd.violations().len(), 6, "{:?}", pd.violations());
    assert!(pd.webhooks().is_empty());
}

#[tokio::test]
async fn no_request_makes_the_loopback_panic() {
    let pd = start().await;
    let raw = [
        "/api/v2/activities?limit=%zz",
        "/api/v2/activities?cursor=%FF%FE",
        "/api/v2/activities?updated_since=yesterday",
        "/api/v2/activities?limit=-1&sort_by=&&=&done",
        "/api/v2/deals?ids=1,x",
        "/v1/webhooks/not-a-number",
        "/api/v2/activities?sort_by=due_date&cursor=eyJmaWVsZCI6ImR1ZV9kYXRlIn0",
    ];
    for path in raw {
        let response = client().get(format!("{}{path}", pd.url())).header("x-api-token", TOKEN).send().await;
        let status = response.expect("an answer").status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    let delete = client().delete(format!("{}/v1/webhooks/abc", pd.url())).header("x-api-token", TOKEN);
    assert_eq!(send(delete).await.status, 400);
    let long = format!("/api/v2/activities?owner_id={}", "9".repeat(10_000));
    assert_eq!(get(&pd, &long).await.status, 400);
    let binary = client()
        .post(format!("{}/v1/webhooks", pd.url()))
        .header("x-api-token", TOKEN)
        .header("content-type", "application/json")
        .body(vec![0xff, 0x00, 0xfe]);
    assert_eq!(send(binary).await.status, 400);
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 200, "still serving");
}

// ---- rate limits and injected failures ----

#[tokio::test]
async fn every_response_carries_rate_limit_headers() {
    let pd = start_with(PdOptions { burst_limit: Some(100), ..PdOptions::default() }).await;
    let ok = get(&pd, "/api/v2/activities").await;
    let header = |a: &Answer, name: &str| a.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header(&ok, "x-ratelimit-limit").as_deref(), Some("100"));
    assert_eq!(header(&ok, "x-ratelimit-remaining").as_deref(), Some("90"), "getActivities costs 10 tokens");
    assert_eq!(header(&ok, "x-ratelimit-reset").as_deref(), Some("2"));
    let users = get(&pd, "/v1/users").await;
    assert_eq!(header(&users, "x-ratelimit-remaining").as_deref(), Some("70"), "getUsers costs 20");
    let unauthorized = send(client().get(format!("{}/v1/users", pd.url()))).await;
    assert!(header(&unauthorized, "x-ratelimit-remaining").is_some());
    let costs: Vec<u32> = pd.requests().iter().map(|r| r.token_cost).collect();
    if validating() {
        assert_eq!(costs, [10, 20, 20]);
    }
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_with_rate_limit_headers() {
    let pd = start_with(PdOptions { burst_limit: Some(25), ..PdOptions::default() }).await;
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 200);
    assert_eq!(get(&pd, "/api/v2/deals").await.status, 200);
    let over = get(&pd, "/api/v2/activities").await;
    assert_eq!(over.status, 429);
    assert_eq!(over.body["errorCode"], 429);
    let header = |name: &str| over.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("x-ratelimit-limit").as_deref(), Some("25"));
    assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header("x-ratelimit-reset").and_then(|r| r.parse().ok()).expect("a reset in seconds");
    assert!((1..=2).contains(&reset), "{reset}");
    // Stages cost 5: they still fit the window.
    assert_eq!(get(&pd, "/api/v2/stages").await.status, 200);
    tokio::time::sleep(BURST_WINDOW).await;
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 200, "the window rolled on");
    assert_clean(&pd);
}

#[tokio::test]
async fn fail_next_answers_the_next_matching_requests_with_the_status() {
    let pd = start().await;
    pd.fail_next("/activities", 502, 2);
    pd.fail_next("/deals", 429, 1);
    assert_eq!(get(&pd, "/api/v2/deals").await.status, 429);
    let limited = get(&pd, "/api/v2/deals").await;
    assert_eq!(limited.status, 200);
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 502);
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 502);
    assert_eq!(get(&pd, "/api/v2/activities").await.status, 200);
    pd.fail_next("/deals", 429, 1);
    let injected = get(&pd, "/api/v2/deals").await;
    assert_eq!(injected.headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()), Some("0"));
    assert!(injected.headers.get("x-ratelimit-reset").is_some());
    let statuses: Vec<u16> = pd.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200, 502, 502, 200, 429]);
    assert_clean(&pd);
}

// ---- webhooks ----

/// A webhook receiver on 127.0.0.1 that records each POST and answers from a script (then 200).
struct Receiver {
    url: String,
    hits: Hits,
    script: Script,
}

/// Each POST's `Authorization` header and JSON body.
type Hits = Arc<Mutex<Vec<(Option<String>, Value)>>>;
/// The status and delay of each next answer.
type Script = Arc<Mutex<VecDeque<(u16, Duration)>>>;
type ReceiverState = (Hits, Script);

async fn receive(State((hits, script)): State<ReceiverState>, headers: HeaderMap, body: String) -> StatusCode {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    hits.lock().expect("hits").push((auth, serde_json::from_str(&body).unwrap_or(Value::Null)));
    let (status, delay) = script.lock().expect("script").pop_front().unwrap_or((200, Duration::ZERO));
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

async fn receiver(script: Vec<(u16, Duration)>) -> Receiver {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let app =
        axum::Router::new().route("/hook", axum::routing::post(receive)).with_state((hits.clone(), script.clone()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, hits, script }
}

async fn register(pd: &PipedriveLoopback, url: &str, action: &str, object: &str) -> Answer {
    let body = json!({"subscription_url": url, "event_action": action, "event_object": object, "name": "rally",
                      "version": "2.0", "http_auth_user": "rally", "http_auth_password": "s3cret"});
    send(client().post(format!("{}/v1/webhooks", pd.url())).header("x-api-token", TOKEN).json(&body)).await
}

#[tokio::test]
async fn webhooks_are_registered_listed_and_deleted() {
    let pd = start().await;
    pd.add_user(5, "Admin", "admin@example.com");
    let created = register(&pd, "http://127.0.0.1:9/hook", "*", "activity").await;
    assert_eq!(created.status, 201);
    let data = &created.body["data"];
    assert_eq!((data["event_action"].as_str(), data["event_object"].as_str()), (Some("*"), Some("activity")));
    assert_eq!(data["version"], "2.0");
    assert_eq!(data["user_id"], 5);
    let id = data["id"].as_i64().expect("an id");
    let listed = get(&pd, "/v1/webhooks").await;
    assert_eq!(listed.body["data"], json!([data.clone()]));
    assert_eq!(pd.webhooks(), vec![data.clone()]);
    let delete = |id: i64| client().delete(format!("{}/v1/webhooks/{id}", pd.url())).header("x-api-token", TOKEN);
    assert_eq!(send(delete(id)).await.body, json!({"status": "ok", "success": true}));
    assert!(pd.webhooks().is_empty());
    assert_eq!(send(delete(id)).await.status, 404, "gone already: rally must cope, no violation");
    assert_clean(&pd);
}

#[tokio::test]
async fn webhooks_are_delivered_with_basic_auth_and_retried_after_a_5xx() {
    let pd = start().await;
    let hook = receiver(vec![(500, Duration::ZERO), (503, Duration::ZERO)]).await;
    register(&pd, &hook.url, "*", "*").await;
    let id = pd.put_activity(activity("Call Acme", 1));
    let deliveries = pd.wait_deliveries(3, QUICK).await;
    let outcomes: Vec<(u32, Option<u16>)> = deliveries.iter().map(|d| (d.attempt, d.status)).collect();
    assert_eq!(outcomes, [(1, Some(500)), (2, Some(503)), (3, Some(200))]);
    let hits = hook.hits.lock().expect("hits").clone();
    assert_eq!(hits.len(), 3);
    for (n, (auth, body)) in hits.iter().enumerate() {
        assert_eq!(auth.as_deref(), Some("Basic cmFsbHk6czNjcmV0"), "rally:s3cret");
        assert_eq!(body["meta"]["attempt"], n as u64 + 1);
    }
    let body = &hits[0].1;
    let meta = &body["meta"];
    assert_eq!((meta["action"].as_str(), meta["entity"].as_str()), (Some("create"), Some("activity")));
    assert_eq!(meta["entity_id"], id.to_string(), "ids in meta are strings");
    assert_eq!(meta["version"], "2.0");
    assert_eq!(meta["change_source"], "app");
    assert!(meta["id"].as_str().is_some_and(|u| u.len() == 36), "{meta}");
    assert_eq!(meta["id"], hits[2].1["meta"]["id"], "a retry is the same event");
    let listed = get(&pd, "/api/v2/activities").await;
    assert_eq!(body["data"], listed.body["data"][0], "data is the object as the v2 list returns it");
    assert_eq!(body["previous"], Value::Null);
    assert!(hook.script.lock().expect("script").is_empty());
    assert_clean(&pd);
}

#[tokio::test]
async fn a_delivery_that_gets_no_answer_in_time_is_retried_and_given_up_after_the_last_delay() {
    let pd = start().await;
    pd.set_webhook_timeout(Duration::from_millis(100));
    let slow = Duration::from_millis(400);
    let hook = receiver(vec![(200, slow); 4]).await;
    register(&pd, &hook.url, "create", "deal").await;
    pd.put_deal(deal("Acme", "open"));
    let deliveries = pd.wait_deliveries(4, QUICK).await;
    assert_eq!(deliveries.len(), 4, "the first try and three retries");
    assert!(deliveries.iter().all(|d| d.status.is_none() && d.error.as_deref().is_some_and(|e| e.contains("100 ms"))));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pd.deliveries().len(), 4, "no fifth attempt");
}

#[tokio::test]
async fn changes_carry_the_changed_fields_as_previous_and_deletes_the_last_state() {
    let pd = start().await;
    let hook = receiver(Vec::new()).await;
    register(&pd, &hook.url, "*", "activity").await;
    let id = pd.put_activity(activity("Call Acme", 1));
    pd.set_clock(Some(t0() + TimeDelta::minutes(5)));
    let mut a = pd.activity(id).expect("stored");
    a.done = true;
    pd.put_activity(a);
    pd.delete_activity(id);
    let deliveries = pd.wait_deliveries(3, QUICK).await;
    let actions: Vec<&str> = deliveries.iter().filter_map(|d| d.body["meta"]["action"].as_str()).collect();
    assert_eq!(actions, ["create", "change", "delete"]);
    let change = &deliveries[1].body;
    assert_eq!(change["data"]["done"], true);
    assert_eq!(
        change["previous"],
        json!({"update_time": "2026-11-02T09:15:00Z", "done": false, "marked_as_done_time": null}),
        "only what changed, with its old value"
    );
    let delete = &deliveries[2].body;
    assert_eq!(delete["data"], Value::Null);
    assert_eq!(delete["previous"]["id"], id);
    assert_eq!(delete["previous"]["done"], true);
    assert_eq!(delete["previous"], change["data"]);
    assert_clean(&pd);
}

#[tokio::test]
async fn a_merge_sends_a_delete_with_merged_to_id_and_a_change_with_merged_from_id() {
    let pd = start().await;
    let from = pd.put_deal(deal("Acme (dup)", "open"));
    let into = pd.put_deal(deal("Acme", "open"));
    let call = pd.put_activity(PdActivity { deal_id: Some(from), ..activity("Call", 1) });
    let hook = receiver(Vec::new()).await;
    register(&pd, &hook.url, "*", "deal").await;
    pd.merge_deals(from, into);
    let deliveries = pd.wait_deliveries(2, QUICK).await;
    assert_eq!(deliveries.len(), 2);
    let delete = &deliveries[0].body;
    assert_eq!(delete["meta"]["action"], "delete");
    assert_eq!(delete["meta"]["entity_id"], from.to_string());
    assert_eq!(delete["meta"]["merged_to_id"], into.to_string());
    assert_eq!(delete["data"], Value::Null);
    assert_eq!(delete["previous"]["title"], "Acme (dup)");
    let change = &deliveries[1].body;
    assert_eq!(change["meta"]["action"], "change");
    assert_eq!(change["meta"]["entity_id"], into.to_string());
    assert_eq!(change["meta"]["merged_from_id"], from.to_string());
    assert_eq!(pd.activity(call).and_then(|a| a.deal_id), Some(into));
    assert_eq!(ids(&get(&pd, "/api/v2/deals").await.body), [into]);
    assert_clean(&pd);
}

#[tokio::test]
async fn dropped_events_are_never_delivered_and_duplicated_ones_arrive_twice() {
    let pd = start().await;
    let hook = receiver(Vec::new()).await;
    register(&pd, &hook.url, "create", "activity").await;
    pd.drop_next_webhooks(1);
    pd.put_activity(activity("lost", 1));
    pd.duplicate_next_webhooks(1);
    let twice = pd.put_activity(activity("twice", 1));
    let once = pd.put_activity(activity("once", 1));
    let deliveries = pd.wait_deliveries(3, QUICK).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let seen: Vec<(String, u64)> = pd
        .deliveries()
        .iter()
        .map(|d| {
            (
                d.body["meta"]["entity_id"].as_str().unwrap_or("").to_string(),
                d.body["meta"]["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(seen, [(twice.to_string(), 1), (twice.to_string(), 2), (once.to_string(), 1)]);
    assert_eq!(deliveries[0].body["meta"]["id"], deliveries[1].body["meta"]["id"]);
    assert_clean(&pd);
}

#[tokio::test]
async fn bulk_loaded_activities_fire_no_webhooks() {
    let pd = start().await;
    let hook = receiver(Vec::new()).await;
    register(&pd, &hook.url, "*", "*").await;
    pd.bulk_activities((0..100).map(|i| activity(&format!("a{i}"), 1)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pd.deliveries().is_empty());
    assert_eq!(ids(&get(&pd, "/api/v2/activities?limit=500").await.body).len(), 100);
}

// ---- drift against the descriptions ----

fn specs() -> Option<Arc<Specs>> {
    let dir = openapi_dir_for_tests()?;
    Some(Specs::load(&dir).expect("the descriptions load"))
}

#[test]
fn the_loopbacks_token_costs_match_the_descriptions() {
    let Some(specs) = specs() else { return };
    for (api, method, template, cost) in routes::served() {
        let op = specs.document(api).operation(method, template).unwrap_or_else(|| panic!("{method} {template}"));
        assert_eq!(op.token_cost, cost, "{}", op.label());
    }
}

#[tokio::test]
async fn responses_validate_against_the_spec() {
    let Some(specs) = specs() else { return };
    let pd = start().await;
    pd.add_user(1, "Alice", "alice@example.com");
    pd.add_activity_type("call", "Call");
    pd.add_pipeline(1, "Sales");
    pd.add_stage(1, 1, "Lead", 1, 10);
    pd.put_activity(PdActivity {
        due_date: NaiveDate::from_ymd_opt(2026, 11, 3),
        due_time: NaiveTime::from_hms_opt(9, 0, 0),
        deal_id: Some(1),
        done: true,
        ..activity("Call", 1)
    });
    pd.put_activity(activity("Plain", 1));
    pd.put_deal(PdDeal { lost_reason: Some("price".into()), probability: Some(40), ..deal("Lost", "lost") });
    let gone = pd.put_deal(deal("Gone", "open"));
    pd.delete_deal(gone);
    let created = register(&pd, "http://127.0.0.1:9/hook", "*", "*").await;
    let checks: Vec<(Api, &str, &str, &str, Answer)> = vec![
        (Api::V2, "GET", "/activities", "200", get(&pd, "/api/v2/activities?limit=1").await),
        (Api::V2, "GET", "/activities", "200", get(&pd, "/api/v2/activities?limit=500").await),
        (Api::V2, "GET", "/deals", "200", get(&pd, "/api/v2/deals").await),
        (Api::V2, "GET", "/deals", "200", get(&pd, "/api/v2/deals?status=deleted").await),
        (Api::V2, "GET", "/stages", "200", get(&pd, "/api/v2/stages").await),
        (Api::V2, "GET", "/pipelines", "200", get(&pd, "/api/v2/pipelines").await),
        (Api::V1, "GET", "/users", "200", get(&pd, "/v1/users").await),
        (Api::V1, "GET", "/activityTypes", "200", get(&pd, "/v1/activityTypes").await),
        (Api::V1, "GET", "/webhooks", "200", get(&pd, "/v1/webhooks").await),
        (Api::V1, "POST", "/webhooks", "201", created),
        (
            Api::V1,
            "DELETE",
            "/webhooks/{id}",
            "200",
            send(client().delete(format!("{}/v1/webhooks/1", pd.url())).header("x-api-token", TOKEN)).await,
        ),
    ];
    for (api, method, template, status, answer) in checks {
        let op = specs.document(api).operation(method, template).expect("described");
        assert_eq!(answer.status.to_string(), status, "{}: {}", op.label(), answer.body);
        let schema = op.response_schema(status).unwrap_or_else(|| panic!("{} has a {status} schema", op.label()));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&schema)
            .expect("the response schema compiles");
        let errors: Vec<String> =
            validator.iter_errors(&answer.body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} answered outside its {status} schema: {errors:#?}", op.label());
        // Every item carries every field the description lists: a client may rely on none being absent.
        if let (Some(items), Some(props)) = (
            answer.body["data"].as_array(),
            schema.pointer("/properties/data/items/properties").and_then(Value::as_object),
        ) {
            for item in items {
                let missing: Vec<&String> = props.keys().filter(|k| item.get(k.as_str()).is_none()).collect();
                let optional = ["attendees", "archive_time"];
                let missing: Vec<&&String> = missing.iter().filter(|k| !optional.contains(&k.as_str())).collect();
                assert!(missing.is_empty(), "{}: items lack {missing:?}", op.label());
            }
        }
    }
    assert_clean(&pd);
}

#[test]
fn nullable_and_all_of_become_json_schema() {
    use super::spec::{Strictness, to_json_schema};
    let openapi = json!({"allOf": [
        {"type": "object", "properties": {"success": {"type": "boolean"}}},
        {"type": "object", "properties": {"data": {"type": "string", "nullable": true, "enum": ["a"]}}, "required": ["data"]}
    ]});
    let request = to_json_schema(&openapi, Strictness::Request);
    assert_eq!(
        request,
        json!({"type": "object", "properties": {"success": {"type": "boolean"},
               "data": {"type": ["string", "null"], "enum": ["a", null]}}, "required": ["data"]})
    );
    let response = to_json_schema(&openapi, Strictness::Response);
    assert_eq!(response["additionalProperties"], false);
    assert_eq!(response["properties"]["success"]["type"], json!(["boolean", "null"]));
}

#[tokio::test]
async fn without_the_descriptions_the_loopback_still_serves_its_routes() {
    let pd = match PipedriveLoopback::start_with(PdOptions::default(), None).await {
        Ok(pd) => pd,
        Err(e) => panic!("{e}"),
    };
    pd.put_activity(activity("a", 1));
    assert_eq!(ids(&get(&pd, "/api/v2/activities").await.body), [1]);
    assert_eq!(get(&pd, "/api/v2/activities?limit=501").await.status, 400);
    assert_eq!(get(&pd, "/api/v2/leads").await.status, 404);
    assert_eq!(pd.requests()[0].token_cost, 10);
}

// ---- speed ----

/// Pages of 500 through a million activities, twice: parsing each page fully into a `serde_json::Value` (as a
/// careless client would), then reading only the cursor (the loopback's own serving rate). Run with
/// `cargo test --release --lib loopback::pipedrive::tests::a_million -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: loads a million activities"]
async fn a_million_activities_are_served_in_pages_of_500() {
    #[derive(serde::Deserialize)]
    struct Light {
        data: Vec<serde::de::IgnoredAny>,
        additional_data: LightMore,
    }
    #[derive(serde::Deserialize)]
    struct LightMore {
        next_cursor: Option<String>,
    }
    let pd = start().await;
    let load = Instant::now();
    pd.bulk_activities((0..1_000_000).map(|i| activity("Call", 1 + i % 20)));
    eprintln!("loaded 1,000,000 activities in {:?}", load.elapsed());
    let http = client();
    for full_parse in [true, false] {
        let started = Instant::now();
        let (mut served, mut cursor) = (0usize, None::<String>);
        loop {
            let mut url = format!("{}/api/v2/activities?limit=500", pd.url());
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let response = http.get(url).header("x-api-token", TOKEN).send().await.expect("served");
            let bytes = response.bytes().await.expect("body");
            if full_parse {
                let body: Value = serde_json::from_slice(&bytes).expect("JSON");
                served += body["data"].as_array().map_or(0, Vec::len);
                cursor = next_cursor(&body);
            } else {
                let body: Light = serde_json::from_slice(&bytes).expect("JSON");
                served += body.data.len();
                cursor = body.additional_data.next_cursor;
            }
            if cursor.is_none() {
                break;
            }
        }
        let elapsed = started.elapsed();
        let rate = served as f64 / elapsed.as_secs_f64();
        let how = if full_parse { "parsed into Values" } else { "cursor read only" };
        eprintln!("served {served} activities in {elapsed:?} ({how}): {rate:.0}/s");
        assert_eq!(served, 1_000_000);
    }
}

/// The same path on a smaller store, in every test run: paging a large store must not scan it per page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_a_large_store_does_not_slow_down_towards_its_end() {
    let pd = start().await;
    pd.bulk_activities((0..100_000).map(|i| activity("Call", 1 + i % 20)));
    let first = Instant::now();
    let page = get(&pd, "/api/v2/activities?limit=500").await;
    let first = first.elapsed();
    // A cursor near the end of the store.
    let late =
        super::cursor::Cursor { field: "id".into(), desc: false, key: super::store::Key::Int(99_000), id: 99_000 };
    let last = Instant::now();
    let tail = get(&pd, &format!("/api/v2/activities?limit=500&cursor={}", late.encode())).await;
    let last = last.elapsed();
    assert_eq!(ids(&page.body).len(), 500);
    assert_eq!(ids(&tail.body).first(), Some(&99_001));
    assert!(last < first * 5 + Duration::from_millis(50), "first page {first:?}, a late one {last:?}");
}

#[tokio::test]
async fn the_response_check_catches_a_field_pipedrive_does_not_send_or_a_wrong_type() {
    let Some(specs) = specs() else { return };
    let pd = start().await;
    pd.put_activity(activity("Call", 1));
    let answer = get(&pd, "/api/v2/activities").await;
    let op = specs.document(Api::V2).operation("GET", "/activities").expect("described");
    let schema = op.response_schema("200").expect("a 200 schema");
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft4).build(&schema).expect("compiles");
    assert!(validator.is_valid(&answer.body));
    let mut invented = answer.body.clone();
    invented["data"][0]["user_id"] = json!(1);
    assert!(!validator.is_valid(&invented), "an undeclared field");
    let mut retyped = answer.body.clone();
    retyped["data"][0]["id"] = json!("1");
    assert!(!validator.is_valid(&retyped), "an id as a string");
}
#[tokio::test]
async fn a_subject_with_quotes_newlines_and_emoji_arrives_intact() {
    let pd = start().await;
    let subject = "Call \"Acme\" \\ back\nthen\t\u{1} lunch 🍕 ü";
    pd.put_activity(activity(subject, 1));
    let listed = get(&pd, "/api/v2/activities").await;
    assert_eq!(listed.body["data"][0]["subject"], subject);
    assert_clean(&pd);
}
