//! Hand-run timing of the route table:
//! `cargo run --release -p model --example router_scale`.
//!
//! For 1, 10 000 and 100 000 routes, in three shapes (1, 5 and 20 path
//! prefixes per host: the three layouts of a host), prints the build time and the mean cost of
//! one lookup for three request mixes: hits on exact hosts, hits on wildcard
//! hosts (one route in 100 also serves `*.zoneN.oto.tools`), and misses.
//! Requests cycle over `DISTINCT` (default 10 007) different hosts: a large
//! value measures lookups whose data is not in the CPU caches, a small one
//! (`DISTINCT=16`) lookups whose data is.

use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use model::route::Route;
use model::router::RouteTable;
use serde_json::json;

const LOOKUPS: usize = 1_000_000;

fn routes(n: usize, hosts: usize) -> Result<Vec<Arc<Route>>, Box<dyn Error>> {
    (0..n)
        .map(|i| {
            let mut domains = vec![format!("svc{}.oto.tools/api/v{}", i % hosts, i / hosts)];
            if i % 100 == 0 {
                domains.push(format!("*.zone{}.oto.tools", i / 100));
            }
            let value = json!({
                "id": format!("route_{i:07}"), "name": format!("r{i}"),
                "frontend": {"domains": domains},
                "backend": {"targets": [{"hostname": "up.internal", "port": 8080}]}
            });
            Ok(Arc::new(serde_json::from_value(value)?))
        })
        .collect()
}

fn time_lookups(table: &RouteTable, requests: &[(String, String)]) -> (f64, usize) {
    let mut hits = 0;
    let start = Instant::now();
    for k in 0..LOOKUPS {
        let (host, path) = &requests[k % requests.len()];
        let found = table.find(
            black_box(host),
            black_box(path),
            "GET",
            None,
            |_: &str| -> Option<&str> { None },
        );
        if black_box(found).is_some() {
            hits += 1;
        }
    }
    (start.elapsed().as_nanos() as f64 / LOOKUPS as f64, hits)
}

fn main() -> Result<(), Box<dyn Error>> {
    let distinct = std::env::var("DISTINCT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_007);
    for (shape, per_host) in [
        ("1 prefix/host", 1),
        ("5 prefixes/host", 5),
        ("20 prefixes/host", 20),
    ] {
        println!("{shape}:");
        for n in [1, 10_000, 100_000] {
            run(n, (n / per_host).max(1), distinct)?;
        }
    }
    Ok(())
}

fn run(n: usize, hosts: usize, distinct: usize) -> Result<(), Box<dyn Error>> {
    let routes = routes(n, hosts)?;
    let start = Instant::now();
    let table = RouteTable::build(&routes);
    let build = start.elapsed();
    let exact: Vec<(String, String)> = (0..distinct)
        .map(|k| {
            let i = (k * 7919) % n;
            (
                format!("svc{}.oto.tools:8443", i % hosts),
                format!("/api/v{}/items/{k}", i / hosts),
            )
        })
        .collect();
    let wildcard: Vec<(String, String)> = (0..distinct)
        .map(|k| {
            let zone = (k * 31) % n.div_ceil(100);
            (format!("a{k}.b.zone{zone}.oto.tools"), format!("/x/{k}"))
        })
        .collect();
    let misses: Vec<(String, String)> = (0..distinct)
        .map(|k| (format!("nope{k}.example.com"), format!("/api/v1/{k}")))
        .collect();
    let (exact_ns, exact_hits) = time_lookups(&table, &exact);
    let (wild_ns, wild_hits) = time_lookups(&table, &wildcard);
    let (miss_ns, miss_hits) = time_lookups(&table, &misses);
    println!(
        "  {n:>7} routes: build {:>8.2} ms | exact-host hit {exact_ns:>6.1} ns/lookup ({exact_hits} hits) | wildcard hit {wild_ns:>6.1} ns/lookup ({wild_hits} hits) | miss {miss_ns:>6.1} ns/lookup ({miss_hits} hits)",
        build.as_secs_f64() * 1000.0,
    );
    Ok(())
}
