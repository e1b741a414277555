//! The embedded store.
//!
//! A store is a directory with two layers (measurements behind the choice are in
//! `shared/docs/stack.md` and ARCHITECTURE.md):
//! - `segments/<id>/`: immutable columnar segments, one per committed batch of movements
//!   (`transfers.bin` for account chains, `utxo.jsonl` for UTXO chains), each with the
//!   addresses and assets it introduced (`addresses.txt`, `assets.txt`). The dictionary of
//!   a chain is the concatenation of its segments' new names, so ids are consistent by
//!   construction.
//! - `meta/`: a fjall database with the manifest of committed segments, ingest sources
//!   and their watermarks, labels and incidents.
//!
//! Commit protocol: a segment is written to `segments/tmp-<id>`, synced, renamed to
//! `segments/<id>`, and only then recorded in the manifest, together with its source's
//! new watermark, in one synced fjall batch. On open, every segment directory the
//! manifest does not name is deleted. So after `kill -9` at any point the store holds
//! exactly the committed prefix; a re-run resumes after the watermark.
//!
//! Deduplication: every transfer has a 64-bit key (hash of chain, tx, leg index, from,
//! to, asset, amount; a UTXO transaction: chain and txid). A key already stored is
//! skipped and counted as a duplicate. With n stored keys the chance that a new, distinct
//! transfer collides is below n / 2^64 (10^-10 for a billion transfers).

mod keyset;
mod segment;
pub mod sync;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ashiato_model::{Chain, Incident, Label, Transfer, UtxoTx};
use ashiato_trace::{Graph, GraphBuilder};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

pub use keyset::KeySet;
pub use segment::SegmentError;
use segment::{AccountSegment, SegKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("store metadata: {0}")]
    Meta(#[from] fjall::Error),
    #[error("store metadata entry {key:?} is corrupt: {why}")]
    CorruptMeta { key: String, why: String },
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("segment {id} is in the manifest but {path} is missing")]
    MissingSegment { id: u64, path: PathBuf },
    #[error("building the graph: {0}")]
    Graph(#[from] ashiato_trace::GraphError),
    #[error("source {name} was ingested as {was} but is now given as {now}")]
    ChainMismatch {
        name: String,
        was: Chain,
        now: Chain,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What identifies an ingest source: its kind, its name as given, and a hash of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceKey {
    pub kind: String,
    pub name: String,
    pub fingerprint: [u8; 16],
}

/// A fast content hash (xxh3-128) of a file, streamed.
pub fn fingerprint_file(path: &Path) -> io::Result<[u8; 16]> {
    let mut f = fs::File::open(path)?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.digest128().to_le_bytes())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Rows the source holds, as far as this run read it.
    pub rows: u64,
    pub added: u64,
    pub duplicates: u64,
    /// Rows skipped because an earlier, interrupted run had committed them.
    pub resumed_from: u64,
    /// The source's content had already been ingested completely: nothing was read.
    pub already_complete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SegmentMeta {
    id: u64,
    chain: Chain,
    kind: SegKind,
    rows: u64,
    source: String,
    addresses: u32,
    assets: u16,
    /// Set when the source was aborted: the movements are gone, the names stay so that
    /// the ids of later segments keep their meaning.
    dropped: bool,
    checksum: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SourceState {
    kind: String,
    name: String,
    chain: Chain,
    /// Rows of the source committed so far (its watermark).
    rows: u64,
    complete: bool,
    added: u64,
    duplicates: u64,
    segments: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainStats {
    pub transfers: u64,
    pub utxo_txs: u64,
    pub addresses: u64,
    pub assets: u64,
    pub segments: u64,
    pub sources: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub chains: BTreeMap<String, ChainStats>,
    pub labels: u64,
    pub incidents: u64,
}

/// Text attached to a transaction (a NEM message), as [`SourceSession::push_note`] stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxNote {
    pub tx: String,
    /// `message` (plain text), `message-hex` (bytes that are not UTF-8) or
    /// `message-encrypted` (hex of the cipher text).
    pub kind: String,
    pub text: String,
}

#[derive(Serialize, Deserialize)]
struct StoredNote {
    source: String,
    note: TxNote,
}

fn note_key(chain: Chain, tx: &str, kind: &str) -> Vec<u8> {
    format!("{}\0{tx}\0{kind}", chain.as_str()).into_bytes()
}

/// The result of [`Store::check`]: an empty `problems` list means the store is sound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub segments: u64,
    pub rows: u64,
    pub problems: Vec<String>,
}

pub struct Store {
    dir: PathBuf,
    db: Database,
    manifest: Keyspace,
    sources: Keyspace,
    labels: Keyspace,
    incidents: Keyspace,
    /// Small named states of live syncs (watermarks, recent block identities), written in
    /// the same batch as the segment they describe.
    state: Keyspace,
    /// Per-transaction text a chain carries besides value (NEM messages: exchanges read
    /// the deposit tag from them), written with the segment of the same source.
    notes: Keyspace,
    /// A live watch's durable state: its alert log, which alerts are active, how far
    /// each sink has delivered, its feed (see ashiato-watch).
    watch: Keyspace,
    segments: BTreeMap<u64, SegmentMeta>,
    next_segment: u64,
    /// Rows per segment (a commit point).
    segment_rows: usize,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("model values serialise")
}

fn from_json<T: for<'de> Deserialize<'de>>(key: &[u8], v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::CorruptMeta {
        key: String::from_utf8_lossy(key).into_owned(),
        why: e.to_string(),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Store {
    /// Opens (or creates) the store at `dir`, deleting any segment a crash left
    /// uncommitted.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        fs::create_dir_all(dir.join("segments")).map_err(io_err(dir))?;
        let meta = dir.join("meta");
        // fjall writes its `version` marker last when it creates a database; a process
        // killed before that leaves files that make every later open fail ("File
        // exists"). Such a database never committed anything, so it is started again.
        if meta.is_dir() && !meta.join("version").exists() {
            fs::remove_dir_all(&meta).map_err(io_err(&meta))?;
        }
        let db = Database::builder(meta).open()?;
        let ks = |name: &str| db.keyspace(name, KeyspaceCreateOptions::default);
        let manifest = ks("manifest")?;
        let sources = ks("sources")?;
        let labels = ks("labels")?;
        let incidents = ks("incidents")?;
        let state = ks("state")?;
        let notes = ks("notes")?;
        let watch = ks("watch")?;
        let mut segments = BTreeMap::new();
        for kv in manifest.iter() {
            let (k, v) = kv.into_inner()?;
            let m: SegmentMeta = from_json(&k, &v)?;
            segments.insert(m.id, m);
        }
        let seg_dir = dir.join("segments");
        for entry in fs::read_dir(&seg_dir).map_err(io_err(&seg_dir))? {
            let entry = entry.map_err(io_err(&seg_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let committed = name
                .parse::<u64>()
                .is_ok_and(|id| segments.contains_key(&id));
            if !committed {
                fs::remove_dir_all(entry.path()).map_err(io_err(&entry.path()))?;
            }
        }
        for id in segments.keys() {
            let p = seg_dir.join(segment::dir_name(*id));
            if !p.is_dir() {
                return Err(StoreError::MissingSegment { id: *id, path: p });
            }
        }
        let next_segment = segments.keys().next_back().map_or(1, |id| id + 1);
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            manifest,
            sources,
            labels,
            incidents,
            state,
            notes,
            watch,
            segments,
            next_segment,
            segment_rows: 1_000_000,
        })
    }

    /// A sync state written by [`SourceSession::finish_with_state`] or
    /// [`Store::drop_sources`].
    pub fn sync_state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Forgets the movements of committed sources (a chain reorganisation replaced the
    /// blocks they came from) and records `state` in the same durable batch, so a crash
    /// leaves either both or neither. Returns how many sources were dropped.
    pub fn drop_sources(
        &mut self,
        fingerprints: &[[u8; 16]],
        state: (&str, &[u8]),
    ) -> Result<usize, StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut dropped_segments = Vec::new();
        let mut gone = FxHashSet::default();
        let mut n = 0;
        for fp in fingerprints {
            let key = hex(fp);
            let Some(v) = self.sources.get(key.as_bytes())? else {
                continue;
            };
            let src: SourceState = from_json(key.as_bytes(), &v)?;
            for id in &src.segments {
                if let Some(m) = self.segments.get_mut(id) {
                    m.dropped = true;
                    batch.insert(&self.manifest, id.to_be_bytes(), json(m));
                    dropped_segments.push(*id);
                }
            }
            batch.remove(&self.sources, key.as_bytes());
            gone.insert(key);
            n += 1;
        }
        self.remove_notes_of(&mut batch, &gone)?;
        batch.insert(&self.state, state.0.as_bytes(), state.1);
        batch.commit()?;
        for id in dropped_segments {
            segment::remove_data(&self.segment_path(id))?;
        }
        Ok(n)
    }

    /// Notes are few (one per message-carrying transaction), so a reorg or an abort finds
    /// its source's notes by a scan rather than through a second index.
    fn remove_notes_of(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        sources: &FxHashSet<String>,
    ) -> Result<(), StoreError> {
        if sources.is_empty() {
            return Ok(());
        }
        for kv in self.notes.iter() {
            let (k, v) = kv.into_inner()?;
            let n: StoredNote = from_json(&k, &v)?;
            if sources.contains(&n.source) {
                batch.remove(&self.notes, k);
            }
        }
        Ok(())
    }

    /// The notes of one transaction.
    pub fn notes(&self, chain: Chain, tx: &str) -> Result<Vec<TxNote>, StoreError> {
        let prefix = format!("{}\0{tx}\0", chain.as_str());
        let mut out = Vec::new();
        for kv in self.notes.prefix(prefix.as_bytes()) {
            let (k, v) = kv.into_inner()?;
            out.push(from_json::<StoredNote>(&k, &v)?.note);
        }
        Ok(out)
    }

    /// How many notes are stored.
    pub fn note_count(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for kv in self.notes.iter() {
            kv.into_inner()?;
            n += 1;
        }
        Ok(n)
    }

    /// Rows per committed segment (default one million). Smaller values commit more often.
    pub fn set_segment_rows(&mut self, rows: usize) {
        self.segment_rows = rows.max(1);
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join("segments").join(segment::dir_name(id))
    }

    fn chain_segments(&self, chain: Chain) -> impl Iterator<Item = &SegmentMeta> {
        self.segments.values().filter(move |m| m.chain == chain)
    }

    /// The addresses and assets a segment adds to its chain's dictionaries, in id order.
    fn segment_names(
        &self,
        m: &SegmentMeta,
    ) -> Result<(Vec<ashiato_model::Address>, Vec<ashiato_model::Asset>), StoreError> {
        let path = self.segment_path(m.id);
        let addresses = segment::read_names(&path.join("addresses.txt"), m.addresses as usize)?
            .iter()
            .map(|a| ashiato_model::Address::from_canonical(a))
            .collect();
        let assets = segment::read_names(&path.join("assets.txt"), m.assets as usize)?
            .iter()
            .map(|a| {
                ashiato_model::Asset::parse(a).map_err(|e| SegmentError::Corrupt {
                    path: path.join("assets.txt"),
                    why: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((addresses, assets))
    }

    /// Starts (or resumes) ingesting one source.
    pub fn begin_source(
        &mut self,
        chain: Chain,
        key: SourceKey,
    ) -> Result<SourceSession<'_>, StoreError> {
        let fp = hex(&key.fingerprint);
        let state = match self.sources.get(fp.as_bytes())? {
            Some(v) => {
                let s: SourceState = from_json(fp.as_bytes(), &v)?;
                if s.chain != chain {
                    return Err(StoreError::ChainMismatch {
                        name: key.name,
                        was: s.chain,
                        now: chain,
                    });
                }
                s
            }
            None => SourceState {
                kind: key.kind,
                name: key.name,
                chain,
                rows: 0,
                complete: false,
                added: 0,
                duplicates: 0,
                segments: Vec::new(),
            },
        };
        let resumed_from = if state.complete { 0 } else { state.rows };
        Ok(SourceSession {
            chain,
            fp,
            report: IngestReport {
                rows: state.rows,
                resumed_from,
                already_complete: state.complete,
                ..IngestReport::default()
            },
            state,
            dict: None,
            buf: AccountSegment::default(),
            utxo: Vec::new(),
            notes: Vec::new(),
            watermark: 0,
            committed_added: 0,
            store: self,
        })
    }

    /// The chain's address and asset dictionaries, and its stored dedup keys.
    fn load_dict(&self, chain: Chain) -> Result<Dict, StoreError> {
        let mut d = Dict::default();
        for m in self.chain_segments(chain) {
            let path = self.segment_path(m.id);
            for a in segment::read_names(&path.join("addresses.txt"), m.addresses as usize)? {
                d.addresses.insert(name_hash(&a), d.address_count);
                d.address_count += 1;
            }
            for a in segment::read_names(&path.join("assets.txt"), m.assets as usize)? {
                d.assets.insert(a.into_boxed_str(), d.asset_count);
                d.asset_count += 1;
            }
            if m.dropped {
                continue;
            }
            match m.kind {
                SegKind::Transfers => {
                    let seg = AccountSegment::read(&path, m.rows)?;
                    for &k in &seg.key {
                        d.keys.insert(k);
                    }
                    d.next_seq = d.next_seq.max(seg.seq.last().map_or(0, |s| s + 1));
                }
                SegKind::Utxo => {
                    for (seq, tx) in segment::read_utxo(&path, m.rows)? {
                        d.keys.insert(utxo_key(chain, &tx));
                        d.next_seq = d.next_seq.max(seq + 1);
                    }
                }
            }
        }
        Ok(d)
    }

    /// A value of the service state: small keyed records the services own (the watch's
    /// alert log and feed under their prefixes, API key digests under `apikey/`). Kept in
    /// the keyspace named `watch` on disk, which held only the watch's state at first.
    pub fn state_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.watch.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The service state's entries under `prefix`, in key order.
    pub fn state_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.watch.prefix(prefix.as_bytes()) {
            let (k, v) = kv.into_inner()?;
            out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(out)
    }

    /// The service state's entries from `start` (inclusive) to the end of `prefix`.
    pub fn state_scan_from(
        &self,
        prefix: &str,
        start: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.watch.range(start.as_bytes()..) {
            let (k, v) = kv.into_inner()?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(out)
    }

    /// Writes (`Some`) and removes (`None`) service-state entries in one durable batch: all or
    /// none survive a crash.
    pub fn state_write(&mut self, changes: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for (k, v) in changes {
            match v {
                Some(v) => batch.insert(&self.watch, k.as_bytes(), v.as_slice()),
                None => batch.remove(&self.watch, k.as_bytes()),
            }
        }
        batch.commit()?;
        Ok(())
    }

    pub fn put_labels(&mut self, labels: &[Label]) -> Result<usize, StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut changed = 0;
        for l in labels {
            let key = format!("{}\0{}\0{}", l.chain, l.address, l.source);
            let val = json(l);
            if self.labels.get(key.as_bytes())?.as_deref() != Some(val.as_slice()) {
                batch.insert(&self.labels, key.into_bytes(), val);
                changed += 1;
            }
        }
        batch.commit()?;
        Ok(changed)
    }

    pub fn labels(&self, chain: Chain) -> Result<Vec<Label>, StoreError> {
        let mut out = Vec::new();
        for kv in self.labels.prefix(format!("{chain}\0")) {
            let (k, v) = kv.into_inner()?;
            out.push(from_json(&k, &v)?);
        }
        Ok(out)
    }

    pub fn put_incident(&mut self, i: &Incident) -> Result<(), StoreError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        batch.insert(&self.incidents, i.name.as_bytes(), json(i));
        batch.commit()?;
        Ok(())
    }

    pub fn incident(&self, name: &str) -> Result<Option<Incident>, StoreError> {
        self.incidents
            .get(name.as_bytes())?
            .map(|v| from_json(name.as_bytes(), &v))
            .transpose()
    }

    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut out = Vec::new();
        for kv in self.incidents.iter() {
            let (k, v) = kv.into_inner()?;
            out.push(from_json(&k, &v)?);
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut s = StoreStats::default();
        for m in self.segments.values() {
            let c = s.chains.entry(m.chain.to_string()).or_default();
            c.segments += 1;
            c.addresses += m.addresses as u64;
            c.assets += m.assets as u64;
            if !m.dropped {
                match m.kind {
                    SegKind::Transfers => c.transfers += m.rows,
                    SegKind::Utxo => c.utxo_txs += m.rows,
                }
            }
        }
        for kv in self.sources.iter() {
            let (k, v) = kv.into_inner()?;
            let st: SourceState = from_json(&k, &v)?;
            s.chains.entry(st.chain.to_string()).or_default().sources += 1;
        }
        s.labels = self.labels.len()? as u64;
        s.incidents = self.incidents.len()? as u64;
        Ok(s)
    }

    /// Every committed movement of `chain`, in chain order.
    pub fn graph(&self, chain: Chain) -> Result<Graph, StoreError> {
        let mut b = GraphBuilder::new(chain);
        for m in self.chain_segments(chain) {
            let path = self.segment_path(m.id);
            let (addresses, assets) = self.segment_names(m)?;
            for a in &addresses {
                b.intern_address(a);
            }
            for a in &assets {
                b.intern_asset(a);
            }
            if m.dropped {
                continue;
            }
            match m.kind {
                SegKind::Transfers => {
                    let seg = AccountSegment::read(&path, m.rows)?;
                    for i in 0..seg.len() {
                        let tx = b.intern_tx(seg.tx(i));
                        b.push_transfer(
                            seg.time[i],
                            seg.block[i],
                            seg.seq[i],
                            tx,
                            seg.from[i],
                            seg.to[i],
                            seg.asset[i],
                            seg.amount[i],
                        );
                    }
                }
                SegKind::Utxo => {
                    for (seq, tx) in segment::read_utxo(&path, m.rows)? {
                        b.add_utxo_tx(tx, seq);
                    }
                }
            }
        }
        Ok(b.finish()?)
    }

    /// Every committed UTXO transaction of `chain`, in chain order (clustering and peel
    /// chains work on transactions, not on the trace graph).
    pub fn utxo_txs(&self, chain: Chain) -> Result<Vec<UtxoTx>, StoreError> {
        let mut out = Vec::new();
        for m in self.chain_segments(chain) {
            if !m.dropped && m.kind == SegKind::Utxo {
                out.extend(segment::read_utxo(&self.segment_path(m.id), m.rows)?);
            }
        }
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, tx)| tx).collect())
    }

    /// Every committed transfer of `chain`, in chain order; `index` counts the transfers
    /// of the same transaction (balances, deposit-address clustering and exports read
    /// transfers, not the trace graph).
    pub fn transfers(&self, chain: Chain) -> Result<Vec<Transfer>, StoreError> {
        let mut addresses: Vec<ashiato_model::Address> = Vec::new();
        let mut assets: Vec<ashiato_model::Asset> = Vec::new();
        let mut out: Vec<(u64, Transfer)> = Vec::new();
        for m in self.chain_segments(chain) {
            let path = self.segment_path(m.id);
            let (new_addresses, new_assets) = self.segment_names(m)?;
            addresses.extend(new_addresses);
            assets.extend(new_assets);
            if m.dropped || m.kind != SegKind::Transfers {
                continue;
            }
            let seg = AccountSegment::read(&path, m.rows)?;
            let corrupt = |what: &str| SegmentError::Corrupt {
                path: path.clone(),
                why: format!("{what} id out of range"),
            };
            for i in 0..seg.len() {
                let addr = |id: u32| addresses.get(id as usize).cloned();
                out.push((
                    seg.seq[i],
                    Transfer {
                        time: ashiato_model::UtcTime(seg.time[i]),
                        block: seg.block[i],
                        tx: seg.tx(i).to_owned(),
                        index: 0,
                        from: addr(seg.from[i]).ok_or_else(|| corrupt("address"))?,
                        to: addr(seg.to[i]).ok_or_else(|| corrupt("address"))?,
                        asset: assets
                            .get(seg.asset[i] as usize)
                            .cloned()
                            .ok_or_else(|| corrupt("asset"))?,
                        amount: seg.amount[i],
                    },
                ));
            }
        }
        out.sort_by_key(|(seq, _)| *seq);
        let mut v: Vec<Transfer> = out.into_iter().map(|(_, t)| t).collect();
        for i in 1..v.len() {
            if v[i].tx == v[i - 1].tx {
                v[i].index = v[i - 1].index + 1;
            }
        }
        Ok(v)
    }

    /// Reads every committed segment back and checks it against the manifest: row counts,
    /// checksums, name counts, and that no dedup key is stored twice.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut r = CheckReport::default();
        let mut keys: FxHashSet<u64> = FxHashSet::default();
        for m in self.segments.values() {
            r.segments += 1;
            let path = self.segment_path(m.id);
            let names = |f: &str, n: usize| segment::read_names(&path.join(f), n).map(|v| v.len());
            if let Err(e) = names("addresses.txt", m.addresses as usize) {
                r.problems.push(e.to_string());
            }
            if let Err(e) = names("assets.txt", m.assets as usize) {
                r.problems.push(e.to_string());
            }
            if m.dropped {
                continue;
            }
            match segment::checksum(&path, m.kind) {
                Ok(c) if c == m.checksum => {}
                Ok(c) => r.problems.push(format!(
                    "segment {}: checksum {c} differs from the manifest's {}",
                    m.id, m.checksum
                )),
                Err(e) => r.problems.push(e.to_string()),
            }
            let seg_keys: Result<Vec<u64>, StoreError> = match m.kind {
                SegKind::Transfers => AccountSegment::read(&path, m.rows)
                    .map(|s| s.key)
                    .map_err(Into::into),
                SegKind::Utxo => segment::read_utxo(&path, m.rows)
                    .map(|v| v.iter().map(|(_, t)| utxo_key(m.chain, t)).collect())
                    .map_err(Into::into),
            };
            match seg_keys {
                Ok(ks) => {
                    r.rows += ks.len() as u64;
                    for k in ks {
                        if !keys.insert(k) {
                            r.problems.push(format!(
                                "segment {}: transfer key {k:016x} is stored twice",
                                m.id
                            ));
                        }
                    }
                }
                Err(e) => r.problems.push(e.to_string()),
            }
        }
        Ok(r)
    }
}

/// A chain's names and keys while ingesting. Addresses are looked up by a 128-bit hash
/// held inline in the table: a string key would cost a cache miss per lookup to reach its
/// heap bytes. Two distinct addresses share a hash with probability below 10^-21 even at a
/// billion addresses.
#[derive(Default)]
struct Dict {
    addresses: FxHashMap<u128, u32>,
    address_count: u32,
    assets: FxHashMap<Box<str>, u16>,
    asset_count: u16,
    keys: KeySet,
    next_seq: u64,
}

/// The hashes the store needs per transfer: its dedup key and its two address hashes.
/// Pure functions of the transfer, so any thread may compute them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferHashes {
    pub key: u64,
    pub from: u128,
    pub to: u128,
}

impl TransferHashes {
    pub fn of(chain: Chain, t: &Transfer) -> TransferHashes {
        // One-shot hashing of a small stack buffer: the streaming hasher costs more than
        // the hash itself on inputs this small.
        let mut buf: smallvec::SmallVec<[u8; 256]> = smallvec::SmallVec::new();
        for part in [
            chain.as_str(),
            &t.tx,
            t.from.as_str(),
            t.to.as_str(),
            t.asset.as_str(),
        ] {
            buf.extend_from_slice(part.as_bytes());
            buf.push(0);
        }
        buf.extend_from_slice(&t.index.to_le_bytes());
        buf.extend_from_slice(&t.amount.to_le_bytes());
        TransferHashes {
            key: xxhash_rust::xxh3::xxh3_64(&buf),
            from: name_hash(t.from.as_str()),
            to: name_hash(t.to.as_str()),
        }
    }
}

fn name_hash(s: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(s.as_bytes())
}

fn utxo_key(chain: Chain, tx: &UtxoTx) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(chain.as_str().as_bytes());
    h.update(&[0]);
    h.update(tx.txid.as_bytes());
    h.digest()
}

/// One ingest run of one source. Rows are buffered and committed a segment at a time.
pub struct SourceSession<'s> {
    store: &'s mut Store,
    chain: Chain,
    fp: String,
    state: SourceState,
    report: IngestReport,
    dict: Option<Dict>,
    buf: AccountSegment,
    utxo: Vec<(u64, UtxoTx)>,
    notes: Vec<TxNote>,
    /// Source rows seen by this run (committed or buffered), as a watermark.
    watermark: u64,
    /// `report.added` at the last commit.
    committed_added: u64,
}

impl SourceSession<'_> {
    /// Rows already committed by an earlier run of this exact content: skip them.
    pub fn resume_from(&self) -> u64 {
        self.state.rows
    }

    /// The content was fully ingested before; nothing needs reading.
    pub fn is_complete(&self) -> bool {
        self.state.complete
    }

    fn dict(&mut self) -> Result<&mut Dict, StoreError> {
        if self.dict.is_none() {
            self.dict = Some(self.store.load_dict(self.chain)?);
        }
        Ok(self.dict.as_mut().expect("just loaded"))
    }

    /// Tells the session roughly how many rows are coming, so its tables grow once.
    pub fn reserve(&mut self, rows: usize) -> Result<(), StoreError> {
        self.dict()?.keys.reserve(rows);
        if self.buf.len() == 0 {
            self.buf = AccountSegment::with_capacity(rows.min(self.store.segment_rows));
        }
        Ok(())
    }

    pub fn push_transfer(&mut self, row: u64, t: &Transfer) -> Result<(), StoreError> {
        let h = TransferHashes::of(self.chain, t);
        self.push_hashed(row, t, h)
    }

    /// [`Self::push_transfer`] with the hashes computed elsewhere (by a parsing thread, so
    /// that the two halves of an ingest share the work).
    pub fn push_hashed(
        &mut self,
        row: u64,
        t: &Transfer,
        h: TransferHashes,
    ) -> Result<(), StoreError> {
        self.dict()?;
        let d = self.dict.as_mut().expect("loaded just above");
        if !d.keys.insert(h.key) {
            return self.push_duplicate(row);
        }
        self.push_unique(row, t, h)
    }

    /// Lends out the set of stored dedup keys, so that another thread can filter rows with
    /// [`KeySet::insert`] while this one stores them with [`Self::push_unique`]. Give it
    /// back with [`Self::return_keys`] before committing more sources.
    pub fn lend_keys(&mut self) -> Result<KeySet, StoreError> {
        self.dict()?;
        let d = self.dict.as_mut().expect("loaded just above");
        Ok(std::mem::take(&mut d.keys))
    }

    pub fn return_keys(&mut self, keys: KeySet) {
        if let Some(d) = self.dict.as_mut() {
            d.keys = keys;
        }
    }

    /// Counts a row whose key was already stored.
    pub fn push_duplicate(&mut self, row: u64) -> Result<(), StoreError> {
        self.watermark = row + 1;
        self.report.duplicates += 1;
        self.maybe_commit()
    }

    /// Stores a row whose key the caller has just inserted into the (lent) key set.
    pub fn push_unique(
        &mut self,
        row: u64,
        t: &Transfer,
        h: TransferHashes,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(h, TransferHashes::of(self.chain, t));
        self.watermark = row + 1;
        self.dict()?;
        let d = self.dict.as_mut().expect("loaded just above");
        let new = &mut self.buf.new_addresses;
        let mut intern = |hash: u128, a: &str| -> u32 {
            *d.addresses.entry(hash).or_insert_with(|| {
                new.push(a.to_owned());
                d.address_count += 1;
                d.address_count - 1
            })
        };
        let from = intern(h.from, t.from.as_str());
        let to = intern(h.to, t.to.as_str());
        let asset = match d.assets.get(t.asset.as_str()) {
            Some(&id) => id,
            None => {
                let id = d.asset_count;
                d.asset_count += 1;
                d.assets.insert(t.asset.as_str().into(), id);
                self.buf.new_assets.push(t.asset.as_str().to_owned());
                id
            }
        };
        let seq = d.next_seq;
        d.next_seq += 1;
        self.buf.push(t, seq, from, to, asset, h.key);
        self.report.added += 1;
        self.maybe_commit()
    }

    pub fn push_utxo_tx(&mut self, row: u64, tx: &UtxoTx) -> Result<(), StoreError> {
        let key = utxo_key(self.chain, tx);
        self.watermark = row + 1;
        let d = self.dict()?;
        if !d.keys.insert(key) {
            self.report.duplicates += 1;
            return self.maybe_commit();
        }
        let seq = d.next_seq;
        d.next_seq += 1;
        self.utxo.push((seq, tx.clone()));
        self.report.added += 1;
        self.maybe_commit()
    }

    /// Attaches text to a transaction of this source; it is committed with the next
    /// segment, so it is never stored without the source's movements.
    pub fn push_note(&mut self, note: TxNote) {
        self.notes.push(note);
    }

    fn pending(&self) -> usize {
        self.buf.len() + self.utxo.len()
    }

    fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.pending() >= self.store.segment_rows {
            self.commit(false, None)?;
        }
        Ok(())
    }

    /// Writes the buffered rows as a segment and records it with the new watermark.
    fn commit(&mut self, complete: bool, extra: Option<(&str, &[u8])>) -> Result<(), StoreError> {
        let pending = self.pending();
        let store = &mut *self.store;
        let mut batch = store.db.batch().durability(Some(PersistMode::SyncAll));
        if let Some((k, v)) = extra {
            batch.insert(&store.state, k.as_bytes(), v);
        }
        if pending > 0 || !self.buf.new_addresses.is_empty() {
            let id = store.next_segment;
            let kind = if self.utxo.is_empty() {
                SegKind::Transfers
            } else {
                SegKind::Utxo
            };
            let final_path = store.segment_path(id);
            let tmp = store.dir.join("segments").join(format!("tmp-{id}"));
            let checksum = match kind {
                SegKind::Transfers => self.buf.write(&tmp, &final_path)?,
                SegKind::Utxo => segment::write_utxo(
                    &tmp,
                    &final_path,
                    &self.utxo,
                    &self.buf.new_addresses,
                    &self.buf.new_assets,
                )?,
            };
            let meta = SegmentMeta {
                id,
                chain: self.chain,
                kind,
                rows: pending as u64,
                source: self.fp.clone(),
                addresses: self.buf.new_addresses.len() as u32,
                assets: self.buf.new_assets.len() as u16,
                dropped: false,
                checksum,
            };
            batch.insert(&store.manifest, id.to_be_bytes(), json(&meta));
            store.segments.insert(id, meta);
            store.next_segment += 1;
            self.state.segments.push(id);
        }
        for note in self.notes.drain(..) {
            let key = note_key(self.chain, &note.tx, &note.kind);
            let value = json(&StoredNote {
                source: self.fp.clone(),
                note,
            });
            batch.insert(&store.notes, key, value);
        }
        self.state.rows = self.state.rows.max(self.watermark);
        self.state.added += self.report.added - self.committed_added;
        self.state.duplicates = self.state.duplicates.max(self.report.duplicates);
        self.state.complete = complete;
        batch.insert(&store.sources, self.fp.as_bytes(), json(&self.state));
        batch.commit()?;
        self.buf.clear();
        self.utxo.clear();
        self.committed_added = self.report.added;
        Ok(())
    }

    /// Commits what is left and marks the source complete.
    pub fn finish(self) -> Result<IngestReport, StoreError> {
        self.finish_inner(None)
    }

    /// [`Self::finish`], recording a sync state in the same durable batch: a live sync's
    /// watermark can then never run ahead of, or behind, the transfers it covers.
    pub fn finish_with_state(self, key: &str, value: &[u8]) -> Result<IngestReport, StoreError> {
        self.finish_inner(Some((key, value)))
    }

    fn finish_inner(mut self, extra: Option<(&str, &[u8])>) -> Result<IngestReport, StoreError> {
        if self.state.complete {
            if let Some((k, v)) = extra {
                // Durable like every other state write: the caller moves on from here.
                let mut batch = self.store.db.batch().durability(Some(PersistMode::SyncAll));
                batch.insert(&self.store.state, k.as_bytes(), v);
                batch.commit()?;
            }
            return Ok(self.report);
        }
        self.commit(true, extra)?;
        self.report.rows = self.state.rows;
        Ok(self.report)
    }

    /// The input was malformed: forget everything of this source, committed now or by an
    /// earlier interrupted run, in one manifest batch. The names those segments introduced
    /// stay (later segments may use their ids); their movements are deleted.
    pub fn abort(self) -> Result<(), StoreError> {
        let store = self.store;
        let mut batch = store.db.batch().durability(Some(PersistMode::SyncAll));
        let mut dropped = Vec::new();
        for id in &self.state.segments {
            if let Some(m) = store.segments.get_mut(id) {
                m.dropped = true;
                batch.insert(&store.manifest, id.to_be_bytes(), json(m));
                dropped.push(*id);
            }
        }
        batch.remove(&store.sources, self.fp.as_bytes());
        store.remove_notes_of(&mut batch, &FxHashSet::from_iter([self.fp.clone()]))?;
        batch.commit()?;
        for id in dropped {
            segment::remove_data(&store.segment_path(id))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[test]
    fn a_database_killed_while_being_created_is_started_again() {
        let dir = tempfile::tempdir().unwrap();
        // What fjall leaves when killed between creating its first journal and writing
        // its version marker.
        let meta = dir.path().join("meta");
        fs::create_dir_all(meta.join("keyspaces")).unwrap();
        fs::write(meta.join("lock"), b"").unwrap();
        fs::write(meta.join("0.jnl"), b"").unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .put_incident(&Incident {
                name: "x".into(),
                chain: Chain::Bitcoin,
                seeds: Vec::new(),
                seed_txs: Vec::new(),
                since: None,
                description: String::new(),
                source: "test".into(),
            })
            .unwrap();
        drop(store);
        assert!(Store::open(dir.path())
            .unwrap()
            .incident("x")
            .unwrap()
            .is_some());
    }
}
