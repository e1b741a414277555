//! The command line's library half: loading inputs into graphs or the store, and the demo.
//! `main.rs` parses arguments; `ashiato-bench` reuses the same loading code.

pub mod coincheck;
pub mod demo;
pub mod load;
pub mod node;
pub mod procstat;
pub mod report;
pub mod serve;
pub mod splitmix;
pub mod utxo;
pub mod watch;

use clap::ValueEnum;

/// Input formats `ingest` and `trace --input` understand.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum InputFormat {
    /// Detect from the path: a directory with tx_output.csv is taintedtx, a directory with
    /// "source addresses.csv" (or one holding such case folders) is mftracer, a directory
    /// with blk*.dat files or a file starting with the Bitcoin magic is blk, a file is csv.
    Auto,
    /// Ashiato CSV: time,block,tx,from,to,asset,amount.
    Csv,
    /// MFTracer Ethereum case folder(s): transfers, source and terminal addresses.
    Mftracer,
    /// BlockSci/TaintedTX UTXO export (Bitcoin 2009).
    Taintedtx,
    /// Bitcoin Core block files: a blocks folder (blk*.dat, xor.dat) or one blk file.
    Blk,
    /// The Bitfinex 2016 theft's seed set: an incident and victim labels, no movements.
    Bitfinex,
}
