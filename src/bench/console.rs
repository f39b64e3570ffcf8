//! `reinstate bench console`: the Inactive Users page, filtered and sorted, over an inventory of
//! 50,000 users synced into a real `reinstate serve` — each page's time over loopback HTTP next
//! to the same filter asked of the inventory API alone (the page's one query, as JSON), the two
//! interleaved so both see the same machine; and the confirm step of a bulk action over every
//! user matching each filter (found by the server from the filter) beside the same query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::inventory::{ADMIN, Org, RATE, Service, simulator};
use super::{Options, ms, percentile};

/// The page's filters and the inventory API's equivalent, pairwise.
const FILTERS: [(&str, &str); 4] = [
    (
        "product=jira&inactive_after=30&sort=last_seen&order=asc",
        "product=jira-software&inactive_after_days=30&sort=last_seen&order=asc",
    ),
    (
        "inactive_after=90&sort=email&order=desc",
        "inactive_after_days=90&sort=email&order=desc",
    ),
    (
        "inactive_after=30&q=u12&sort=name",
        "inactive_after_days=30&q=u12&sort=name",
    ),
    (
        "product=jira&inactive_after=custom&custom_days=45&last_active=2026-09-01&sort=last_seen&order=desc",
        "product=jira-software&inactive_after_days=45&last_active_before=2026-09-01&sort=last_seen&order=desc",
    ),
];

/// Signs in as the admin; the session cookie's `name=value`.
async fn session(url: &str) -> Result<(reqwest::Client, String), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let r = http
        .post(format!("{url}/console/sign-in"))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| format!("signing in gave no session ({})", r.status()))?;
    Ok((http.clone(), cookie.to_string()))
}

/// One GET's time; an error unless it answered 200 with `expect` in its body.
async fn timed(req: reqwest::RequestBuilder, expect: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let r = req.send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.text().await.map_err(|e| e.to_string())?;
    let took = start.elapsed();
    if status != 200 || !body.contains(expect) {
        return Err(format!(
            "{status}: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
    Ok(took)
}

pub async fn run(options: Options) -> Result<(), String> {
    let users = if options.quick { 2_000 } else { 50_000 };
    let org = Arc::new(Org::new(users, RATE));
    let sim = simulator(org.clone()).await?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let service = Service::start(&dir.path().join("state"), &sim, 3600, RATE).await?;
    service.sync().await?;
    let (http, cookie) = session(&service.url).await?;
    let rounds = if options.quick { 40 } else { 400 };
    let (mut pages, mut queries) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for k in 0..rounds {
        let (page, api) = FILTERS[k % FILTERS.len()];
        let page = http
            .get(format!("{}/console/users?{page}", service.url))
            .header("cookie", &cookie);
        pages.push(timed(page, "Inactive After").await?);
        let api = http
            .get(format!(
                "{}/api/v1/inventory/users?{api}&limit=50",
                service.url
            ))
            .bearer_auth(ADMIN);
        queries.push(timed(api, "\"users\"").await?);
    }
    let matching = every_user_matching(&http, &service.url, &cookie, options.quick).await?;
    service.stop();
    pages.sort();
    queries.sort();
    let (p50, p99) = (percentile(&pages, 0.5), percentile(&pages, 0.99));
    let (b50, b99) = (percentile(&queries, 0.5), percentile(&queries, 0.99));
    println!("console: the Inactive Users page over {users} users, {rounds} requests, 4 filters");
    println!(
        "  page, filtered and sorted, 50 rows:   p50 {:>9}  p99 {:>9} (target p99 <= 100 ms)",
        ms(p50),
        ms(p99)
    );
    println!(
        "  baseline, the inventory query alone:  p50 {:>9}  p99 {:>9}  ratio p99 {:.2}",
        ms(b50),
        ms(b99),
        p99.as_secs_f64() / b99.as_secs_f64().max(1e-9)
    );
    for m in matching {
        println!(
            "  every user matching ({}), {} users on average, confirm step: p50 {:>9}  p99 {:>9}",
            m.action,
            m.users,
            ms(m.p50),
            ms(m.p99)
        );
        println!(
            "    baseline, the inventory query alone (interleaved): p50 {:>9}  p99 {:>9}  ratio p99 {:.2}{}",
            ms(m.b50),
            ms(m.b99),
            m.p99.as_secs_f64() / m.b99.as_secs_f64().max(1e-9),
            if m.danger {
                " (it also reads who is protected and what each can lose)"
            } else {
                " (target <= 1.1)"
            }
        );
    }
    Ok(())
}

/// One action's "every user matching" series.
struct Matching {
    action: &'static str,
    danger: bool,
    users: usize,
    p50: Duration,
    p99: Duration,
    b50: Duration,
    b99: Duration,
}

/// The confirm step of a bulk action over every user matching each filter — the server finds
/// them from the filter the form sends — next to the page's query alone, interleaved.
async fn every_user_matching(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    quick: bool,
) -> Result<Vec<Matching>, String> {
    let page = http
        .get(format!("{url}/console/users"))
        .header("cookie", cookie)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no CSRF token on the page")?
        .to_string();
    let rounds = if quick { 20 } else { 200 };
    let mut out = Vec::new();
    for (action, danger) in [("enable-licences", false), ("remove-all-access", true)] {
        let (mut steps, mut queries, mut users) = (Vec::new(), Vec::new(), 0usize);
        for k in 0..rounds {
            let (filter, api) = FILTERS[k % FILTERS.len()];
            let form = [
                ("csrf", csrf.as_str()),
                ("scope", "matching"),
                ("filter", filter),
                ("action", action),
                ("product", "jira-software"),
            ];
            let start = Instant::now();
            let r = http
                .post(format!("{url}/console/users/bulk"))
                .header("cookie", cookie)
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            let body = r.text().await.map_err(|e| e.to_string())?;
            steps.push(start.elapsed());
            let typed = body
                .split("Type ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok());
            match (status.as_u16(), typed) {
                (200, Some(n)) => users += n,
                // A filter nobody matches says so; the query is still timed beside it.
                (400, None) if body.contains("No user matches") => {}
                _ => {
                    return Err(format!(
                        "{action} over {filter}: {status}: {}",
                        body.chars().take(300).collect::<String>()
                    ));
                }
            }
            let api = http
                .get(format!("{url}/api/v1/inventory/users?{api}&limit=50"))
                .bearer_auth(ADMIN);
            queries.push(timed(api, "\"users\"").await?);
        }
        steps.sort();
        queries.sort();
        out.push(Matching {
            action,
            danger,
            users: users / rounds,
            p50: percentile(&steps, 0.5),
            p99: percentile(&steps, 0.99),
            b50: percentile(&queries, 0.5),
            b99: percentile(&queries, 0.99),
        });
    }
    Ok(out)
}
