//! A simulated DocSpace server for the artefact checks (scripts/check-container.sh,
//! scripts/check-prometheus.sh): ~60 days of nightly backups per portal, each portal
//! answering the API key "sk-sim". Runs until killed.
//!
//!     cargo run --example simulate -- PORT NAME...
//!
//! Prints one line per portal, "NAME http://127.0.0.1:PORT/p/NAME", once it listens.

use chrono::Utc;
use docspace_retention::simulator::{SimOptions, Simulator, realistic_portal};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((port, names)) = args.split_first() else {
        eprintln!("usage: simulate PORT NAME...");
        std::process::exit(2);
    };
    let port: u16 = port.parse().unwrap_or_else(|_| {
        eprintln!("simulate: the port must be a number, found {port:?}");
        std::process::exit(2)
    });
    let now = Utc::now();
    let portals = names.iter().map(|n| realistic_portal(n, "sk-sim", now, 60)).collect();
    let sim = Simulator::start(portals, SimOptions::default(), port)
        .await
        .unwrap_or_else(|e| {
            eprintln!("simulate: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        });
    for name in names {
        println!("{name} {}", sim.url(name));
    }
    std::future::pending::<()>().await;
}
