//! The best chain out of a folder of `blk*.dat` files. Since headers-first sync (Core
//! 0.10) blocks are stored in the order they arrived, not by height, and stale blocks
//! are stored too; so a first pass indexes every header and a second one reads the blocks
//! of the longest chain from genesis in height order.

use std::fs::File;
use std::path::{Path, PathBuf};

use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash};
use rustc_hash::FxHashMap;

use crate::blk::{self, BlkError, BlkReader};
use crate::block::{parse_block, BlockError};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Blk(#[from] BlkError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("{path} at byte {offset}: the block header does not decode: {why}")]
    Header {
        path: PathBuf,
        offset: u64,
        why: String,
    },
    #[error("{0}: no blk*.dat files")]
    Empty(PathBuf),
    /// The caller's callback asked to stop (its own error is kept by the caller).
    #[error("stopped by the caller")]
    Stopped,
}

/// The `blk*.dat` files of a folder in name order, and its XOR key.
pub fn blocks_dir(dir: &Path) -> Result<(Vec<PathBuf>, [u8; 8]), ChainError> {
    let key = blk::xor_key(dir)?;
    let rd = std::fs::read_dir(dir).map_err(|source| BlkError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("blk") && n.ends_with(".dat")
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ChainError::Empty(dir.to_owned()));
    }
    Ok((files, key))
}

struct Entry {
    prev: BlockHash,
    file: usize,
    offset: u64,
}

/// What was found besides the best chain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub blocks_seen: u64,
    pub best_height: Option<u64>,
    /// Blocks not on the best chain (stale forks, or blocks whose parent is missing).
    pub off_chain: u64,
}

/// Calls `f(height, block)` for every block of the longest chain from genesis, in order.
/// The chain is the one with the most blocks (every mainnet block of a branch has the
/// same weight within a retarget period; a full node's chainwork rule and this one agree
/// on any folder a node wrote).
pub fn for_each_block(
    files: &[PathBuf],
    key: [u8; 8],
    mut f: impl FnMut(u64, &Block) -> Result<(), ChainError>,
) -> Result<ChainReport, ChainError> {
    let mut index: FxHashMap<BlockHash, Entry> = FxHashMap::default();
    for (fi, path) in files.iter().enumerate() {
        for frame in BlkReader::open(path, key)? {
            let frame = frame?;
            let header = Header::consensus_decode(&mut frame.bytes.as_slice()).map_err(|e| {
                ChainError::Header {
                    path: path.clone(),
                    offset: frame.offset,
                    why: e.to_string(),
                }
            })?;
            index.insert(
                header.block_hash(),
                Entry {
                    prev: header.prev_blockhash,
                    file: fi,
                    offset: frame.offset,
                },
            );
        }
    }
    // Height of every block that reaches genesis (prev = zero), memoised.
    let zero = BlockHash::all_zeros();
    let mut height: FxHashMap<BlockHash, u64> = FxHashMap::default();
    for start in index.keys() {
        let mut path = Vec::new();
        let mut h = *start;
        let base = loop {
            if let Some(x) = height.get(&h) {
                break Some(*x);
            }
            match index.get(&h) {
                Some(e) if e.prev == zero => {
                    height.insert(h, 0);
                    break Some(0);
                }
                Some(e) => {
                    path.push(h);
                    h = e.prev;
                }
                None => break None,
            }
        };
        if let Some(b) = base {
            for (i, x) in path.iter().rev().enumerate() {
                height.insert(*x, b + 1 + i as u64);
            }
        }
    }
    let mut report = ChainReport {
        blocks_seen: index.len() as u64,
        ..ChainReport::default()
    };
    // Ties (two tips at one height) go to the smaller hash, so runs agree.
    let Some((tip, tip_h)) = height
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(h, x)| (*h, *x))
    else {
        report.off_chain = report.blocks_seen;
        return Ok(report);
    };
    let mut chain = Vec::with_capacity(tip_h as usize + 1);
    let mut h = tip;
    loop {
        chain.push(h);
        let e = &index[&h];
        if e.prev == zero {
            break;
        }
        h = e.prev;
    }
    chain.reverse();
    report.best_height = Some(tip_h);
    report.off_chain = report.blocks_seen - chain.len() as u64;
    // Consecutive blocks mostly sit in one file: keep it open until the chain moves on
    // (one handle, not one per file: a full node has thousands of blk files).
    let mut open: Option<(usize, File)> = None;
    for (height, hash) in chain.iter().enumerate() {
        let e = &index[hash];
        let path = &files[e.file];
        if open.as_ref().is_none_or(|(i, _)| *i != e.file) {
            let f = File::open(path).map_err(|source| BlkError::Io {
                path: path.clone(),
                source,
            })?;
            open = Some((e.file, f));
        }
        let file = &mut open.as_mut().expect("opened just above").1;
        let frame = BlkReader::frame_at(path, file, key, e.offset)?;
        let block = parse_block(
            &frame.bytes,
            &format!("{} at byte {}", path.display(), e.offset),
        )?;
        f(height as u64, &block)?;
    }
    Ok(report)
}
