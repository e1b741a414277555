//! `ashiato serve`: the screening API, the tracking site and evidence reports over the
//! store; `ashiato apikey`: the keys its writes need.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context, Result};
use ashiato_model::Amount;
use ashiato_net::Serving;
use ashiato_serve::index::IndexOptions;
use ashiato_serve::{keys, ServeOptions, Service};
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use ashiato_watch::feed::FeedKey;
use ashiato_watch::sink::Hub;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "ashiato.store")]
    store: PathBuf,
    /// Address to listen on (port 0: any free port; the first line on stderr names it).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Policies to serve, the first being every request's default.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "poison,haircut,fifo,lifo,tiho,dirty-first,clean-first"
    )]
    policy: Vec<PolicyName>,
    /// Only these stored incidents (default: all).
    #[arg(long, value_delimiter = ',')]
    incident: Vec<String>,
    #[command(flatten)]
    limits: TraceLimits,
    #[command(flatten)]
    http: HttpLimits,
}

/// The trace limits every served incident runs with.
#[derive(Args, Clone)]
pub struct TraceLimits {
    /// Dust threshold in base units: `N` for every incident, `NAME=N` for one incident
    /// (repeatable; units differ per chain).
    #[arg(long = "dust", value_name = "[NAME=]N")]
    dust: Vec<String>,
    /// Dust-spray defence (base units, 0: off; docs/watch.md).
    #[arg(long, default_value_t = 0)]
    spray_max: Amount,
    #[arg(long)]
    max_hops: Option<u32>,
}

/// What protects the service.
#[derive(Args, Clone)]
pub struct HttpLimits {
    /// Requests per second per client IP (0: no limit).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Requests a client may send at once before the rate applies.
    #[arg(long, default_value_t = 200)]
    burst: u32,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_body: usize,
    /// Seconds a request may take (event streams excepted).
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

impl TraceLimits {
    pub fn index_options(
        &self,
        policies: Vec<PolicyName>,
        only: Vec<String>,
    ) -> Result<IndexOptions> {
        let mut o = IndexOptions {
            policies,
            spray_max: self.spray_max,
            max_hops: self.max_hops,
            only,
            ..IndexOptions::default()
        };
        for d in &self.dust {
            match d.rsplit_once('=') {
                Some((name, n)) => {
                    let n: Amount = n.trim().parse().with_context(|| format!("--dust {d}"))?;
                    o.dust_for.insert(name.trim().to_owned(), n);
                }
                None => o.dust = d.trim().parse().with_context(|| format!("--dust {d}"))?,
            }
        }
        Ok(o)
    }
}

impl HttpLimits {
    pub fn serve_options(&self, index: IndexOptions) -> ServeOptions {
        ServeOptions {
            index,
            rate: self.rate,
            burst: self.burst,
            max_body: self.max_body,
            timeout: std::time::Duration::from_secs(self.timeout.max(1)),
        }
    }
}

/// The hub serving the store's alert log and feed, with the feed's public key if a watch
/// made one (serving never makes a key).
pub fn hub_for(store: &Store, dir: &Path) -> Result<std::sync::Arc<Hub>> {
    let kp = dir.join("feed.key");
    let public = if kp.exists() {
        FeedKey::load_or_create(&kp)?.0.public_hex()
    } else {
        String::new()
    };
    let hub = Hub::new(&public);
    hub.refresh(store)?;
    Ok(hub)
}

pub fn serve(a: ServeArgs) -> Result<()> {
    let mut store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    if a.policy.is_empty() {
        bail!("--policy needs at least one policy");
    }
    let opts = a.http.serve_options(
        a.limits
            .index_options(a.policy.clone(), a.incident.clone())?,
    );
    let hub = hub_for(&store, &a.store)?;
    let started = std::time::Instant::now();
    let (service, backend) = Service::new(&store, opts, hub)?;
    let index = service.index();
    let server = Serving::start(a.listen, service.router())
        .with_context(|| format!("listening on {}", a.listen))?;
    eprintln!("listening on {}", server.url());
    eprintln!(
        "{} incidents under {} policies, {} tainted addresses indexed in {:.1} s; site at {}/, API at {}/api/v1",
        index.incidents.len(),
        index.policies.len(),
        index.tainted_addresses(),
        started.elapsed().as_secs_f64(),
        server.url(),
        server.url()
    );
    drop(index);
    backend.run(&mut store, &AtomicBool::new(false))?;
    Ok(())
}

#[derive(Args)]
pub struct ApikeyArgs {
    #[arg(long, default_value = "ashiato.store", global = true)]
    store: PathBuf,
    #[command(subcommand)]
    cmd: ApikeyCmd,
}

#[derive(Subcommand)]
enum ApikeyCmd {
    /// Make a key (printed once; the store keeps only its SHA-256).
    Add { name: String },
    /// The keys' names, digests and creation times.
    List,
    /// Remove a key. A running service holds the store (and its keys) open: stop it,
    /// revoke, start it again.
    Revoke { name: String },
}

pub fn apikey(a: ApikeyArgs, out: &mut dyn Write) -> Result<()> {
    let mut store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    match a.cmd {
        ApikeyCmd::Add { name } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let key = keys::add(&mut store, &name, now)?;
            writeln!(out, "{key}")?;
            eprintln!("API key {name:?} made; it is shown only now. Send it as 'Authorization: Bearer KEY'.");
        }
        ApikeyCmd::List => {
            for k in keys::list(&store)? {
                writeln!(
                    out,
                    "{}\tsha256:{}\tcreated {}",
                    k.name,
                    k.sha256,
                    ashiato_model::UtcTime(k.created).to_rfc3339()
                )?;
            }
        }
        ApikeyCmd::Revoke { name } => {
            if !keys::revoke(&mut store, &name)? {
                bail!("no API key named {name:?}");
            }
            writeln!(out, "revoked {name}")?;
        }
    }
    Ok(())
}
