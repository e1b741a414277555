//! The NEM (NIS1) transaction model, shared by the JSON and binary parsers, and its one
//! translation into account-model [`Transfer`]s.

use ashiato_model::{Address, Asset, Chain, Transfer, UtcTime};
use data_encoding::BASE32;
use ripemd::Ripemd160;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

/// NIS1 time stamps count seconds from the nemesis block, 2015-03-29T00:06:25Z.
pub const NEM_EPOCH_UNIX: i64 = 1_427_587_585;
/// The native currency, as the mosaic NIS1 names it; amounts in micro-XEM.
pub const XEM: &str = "nem:xem";
/// Mainnet network byte: addresses start with `N`.
pub const MAINNET: u8 = 0x68;

pub mod kind {
    pub const TRANSFER: u32 = 0x0101;
    pub const IMPORTANCE_TRANSFER: u32 = 0x0801;
    pub const MULTISIG_MODIFICATION: u32 = 0x1001;
    pub const MULTISIG_SIGNATURE: u32 = 0x1002;
    pub const MULTISIG: u32 = 0x1004;
    pub const PROVISION_NAMESPACE: u32 = 0x2001;
    pub const MOSAIC_DEFINITION: u32 = 0x4001;
    pub const MOSAIC_SUPPLY: u32 = 0x4002;

    pub fn name(t: u32) -> &'static str {
        match t {
            TRANSFER => "transfer",
            IMPORTANCE_TRANSFER => "importance transfer",
            MULTISIG_MODIFICATION => "multisig modification",
            MULTISIG_SIGNATURE => "multisig signature",
            MULTISIG => "multisig",
            PROVISION_NAMESPACE => "provision namespace",
            MOSAIC_DEFINITION => "mosaic definition",
            MOSAIC_SUPPLY => "mosaic supply change",
            _ => "unknown",
        }
    }
}

pub type PublicKey = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MosaicId {
    pub namespace: String,
    pub name: String,
}

impl MosaicId {
    pub fn xem() -> MosaicId {
        MosaicId {
            namespace: "nem".into(),
            name: "xem".into(),
        }
    }

    pub fn is_xem(&self) -> bool {
        self.namespace == "nem" && self.name == "xem"
    }

    /// Defined in namespace `ns` or one of its sub-namespaces (`ns.sub`).
    pub fn in_namespace(&self, ns: &str) -> bool {
        self.namespace
            .strip_prefix(ns)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }

    /// The asset name used in the store: `namespace:name`.
    pub fn asset_name(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 1 plain, 2 encrypted.
    pub kind: u32,
    pub payload: Vec<u8>,
}

impl Message {
    /// The text of a plain message (hex `fe…` payloads are NIS1's spelling of raw bytes).
    pub fn text(&self) -> Option<String> {
        (self.kind == 1).then(|| String::from_utf8_lossy(&self.payload).into_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Levy {
    /// 1: a fixed quantity per transfer; 2: a share of the quantity, in 1/10,000.
    pub kind: u32,
    pub recipient: Address,
    pub mosaic: MosaicId,
    pub fee: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MosaicDefinition {
    pub creator: PublicKey,
    pub id: MosaicId,
    pub description: String,
    /// As NIS1 lists them (name, value), in order: the hash covers them all.
    pub properties: Vec<(String, String)>,
    pub divisibility: u8,
    pub levy: Option<Levy>,
    pub creation_fee_sink: Option<Address>,
    pub creation_fee: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Transfer {
        recipient: Address,
        /// Micro-XEM (version 1) or, when `mosaics` is not empty, a multiplier of the
        /// mosaic quantities in millionths.
        amount: u64,
        message: Option<Message>,
        mosaics: Vec<(MosaicId, u64)>,
    },
    /// A transaction signed by cosignatories for a multisig account: the inner one is
    /// the multisig account's own.
    Multisig {
        inner: Box<NemTx>,
    },
    MosaicDefinition(MosaicDefinition),
    /// Recorded and counted, not followed: it moves no value besides its fee.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemTx {
    pub kind: u32,
    pub version: u32,
    /// Seconds since [`NEM_EPOCH_UNIX`].
    pub timestamp: u32,
    pub signer: PublicKey,
    pub fee: u64,
    pub deadline: u32,
    pub body: Body,
    /// The NIS1 transaction hash when the source gives it (or it was computed).
    pub hash: Option<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemBlock {
    pub height: u64,
    pub timestamp: u32,
    /// The harvester: fees of the block's transactions go to its account.
    pub signer: PublicKey,
    pub prev_hash: [u8; 32],
    /// The block hash when the source gives it.
    pub hash: Option<[u8; 32]>,
    pub txs: Vec<NemTx>,
}

/// The NEM address of a public key on a network: base32 of (network byte,
/// RIPEMD-160(Keccak-256(key)), first 4 bytes of Keccak-256 of those 21 bytes).
pub fn address_of(key: &PublicKey, network: u8) -> Address {
    let mut body = Vec::with_capacity(25);
    body.push(network);
    body.extend_from_slice(&Ripemd160::digest(Keccak256::digest(key)));
    let check = Keccak256::digest(&body);
    body.extend_from_slice(&check[..4]);
    Address::from_canonical(&BASE32.encode(&body))
}

pub fn nem_time(timestamp: u32) -> UtcTime {
    UtcTime(NEM_EPOCH_UNIX + i64::from(timestamp))
}

/// What the translation did not turn into transfers, for the sync report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub transactions: u64,
    pub transfers: u64,
    /// Transactions of types that move no value but their fee, by type name.
    pub skipped: std::collections::BTreeMap<&'static str, u64>,
    /// Multisig transactions whose inner transfer was attributed to the multisig account.
    pub multisig_inner: u64,
    pub levies: u64,
    /// Transfers of mosaics whose definition was unknown (no levy could be applied).
    pub unknown_mosaics: u64,
}

/// Mosaic definitions seen so far: levies apply on transfer.
#[derive(Debug, Clone, Default)]
pub struct MosaicBook {
    defs: FxHashMap<MosaicId, MosaicDefinition>,
}

impl MosaicBook {
    pub fn insert(&mut self, d: MosaicDefinition) {
        self.defs.insert(d.id.clone(), d);
    }
    pub fn get(&self, id: &MosaicId) -> Option<&MosaicDefinition> {
        self.defs.get(id)
    }
    pub fn len(&self) -> usize {
        self.defs.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &MosaicDefinition> {
        self.defs.values()
    }
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("block {height}, transaction {index}: mosaic name {name:?} is not a valid asset name")]
    BadMosaic {
        height: u64,
        index: usize,
        name: String,
    },
}

fn asset(id: &MosaicId, height: u64, index: usize) -> Result<Asset, ModelError> {
    Asset::parse(&id.asset_name()).map_err(|_| ModelError::BadMosaic {
        height,
        index,
        name: id.asset_name(),
    })
}

/// The id a transaction's transfers and notes are stored under: its hash (the outer one
/// for a multisig), or `height-index` when the source gave none.
pub fn tx_id(block: &NemBlock, i: usize) -> String {
    block.txs[i]
        .hash
        .map(hex::encode)
        .unwrap_or_else(|| format!("{}-{i}", block.height))
}

/// The messages of a block's transfers (a multisig's inner one included), with the id of
/// the transaction that carried each.
pub fn block_messages(block: &NemBlock) -> Vec<(String, &Message)> {
    let mut out = Vec::new();
    for (i, tx) in block.txs.iter().enumerate() {
        let inner = match &tx.body {
            Body::Multisig { inner } => inner.as_ref(),
            _ => tx,
        };
        if let Body::Transfer {
            message: Some(m), ..
        } = &inner.body
        {
            if !m.payload.is_empty() {
                out.push((tx_id(block, i), m));
            }
        }
    }
    out
}

/// The value movements of a block, in order. The rules (documented in docs/nem.md):
/// - a transfer moves its XEM amount, or for each attached mosaic `quantity × amount /
///   1,000,000` (floor) of that mosaic; `nem:xem` as a mosaic is XEM;
/// - a mosaic with a levy also moves the levy from the sender to the levy recipient;
/// - a multisig transaction's inner transfer is the multisig account's, and so are both
///   fees (NIS1 charges the multisig account, not the cosignatory);
/// - every fee moves from its payer to the harvester of the block (`index` after the
///   transaction's transfers) so that balances, and therefore haircut and FIFO, add up;
/// - a mosaic definition moves its creation fee to the fee sink; other types move only
///   their fee and are counted in [`Tally::skipped`].
pub fn block_transfers(
    block: &NemBlock,
    book: &mut MosaicBook,
    network: u8,
    tally: &mut Tally,
) -> Result<Vec<Transfer>, ModelError> {
    let harvester = address_of(&block.signer, network);
    let xem = Asset::parse(XEM).expect("static asset name");
    let mut out = Vec::new();
    for (i, tx) in block.txs.iter().enumerate() {
        tally.transactions += 1;
        let id = tx_id(block, i);
        let time = nem_time(tx.timestamp);
        let mut index = 0u32;
        let mut push =
            |out: &mut Vec<Transfer>, from: &Address, to: &Address, a: &Asset, x: u64| {
                if x > 0 {
                    out.push(Transfer {
                        time,
                        block: block.height,
                        tx: id.clone(),
                        index,
                        from: from.clone(),
                        to: to.clone(),
                        asset: a.clone(),
                        amount: u128::from(x),
                    });
                    index += 1;
                }
            };
        let (payer, inner, fees) = match &tx.body {
            Body::Multisig { inner } => {
                tally.multisig_inner += 1;
                (
                    address_of(&inner.signer, network),
                    inner.as_ref(),
                    tx.fee + inner.fee,
                )
            }
            _ => (address_of(&tx.signer, network), tx, tx.fee),
        };
        let before = out.len();
        match &inner.body {
            Body::Transfer {
                recipient,
                amount,
                mosaics,
                ..
            } => {
                if mosaics.is_empty() {
                    push(&mut out, &payer, recipient, &xem, *amount);
                }
                for (m, q) in mosaics {
                    let qty = (u128::from(*q) * u128::from(*amount) / 1_000_000) as u64;
                    let a = if m.is_xem() {
                        xem.clone()
                    } else {
                        asset(m, block.height, i)?
                    };
                    push(&mut out, &payer, recipient, &a, qty);
                    if m.is_xem() {
                        continue;
                    }
                    match book.get(m).and_then(|d| d.levy.clone()) {
                        Some(levy) => {
                            let fee = match levy.kind {
                                1 => levy.fee,
                                _ => (u128::from(qty) * u128::from(levy.fee) / 10_000) as u64,
                            };
                            let la = if levy.mosaic.is_xem() {
                                xem.clone()
                            } else {
                                asset(&levy.mosaic, block.height, i)?
                            };
                            if fee > 0 {
                                tally.levies += 1;
                            }
                            push(&mut out, &payer, &levy.recipient, &la, fee);
                        }
                        None if book.get(m).is_none() => tally.unknown_mosaics += 1,
                        None => {}
                    }
                }
            }
            Body::MosaicDefinition(d) => {
                if let Some(sink) = &d.creation_fee_sink {
                    push(&mut out, &payer, sink, &xem, d.creation_fee);
                }
                book.insert(d.clone());
                *tally.skipped.entry(kind::name(inner.kind)).or_default() += 1;
            }
            Body::Multisig { .. } | Body::Other => {
                *tally.skipped.entry(kind::name(inner.kind)).or_default() += 1;
            }
        }
        tally.transfers += (out.len() - before) as u64;
        if payer != harvester {
            push(&mut out, &payer, &harvester, &xem, fees);
        }
    }
    Ok(out)
}

/// Parses a NEM address given as text, naming where it came from on failure.
/// The network byte of a (validated) NEM address: its first base32-decoded byte.
pub fn network_of(a: &Address) -> Option<u8> {
    BASE32.decode(a.as_str().as_bytes()).ok()?.first().copied()
}

pub fn parse_address(s: &str) -> Result<Address, ashiato_model::AddressError> {
    Address::parse(Chain::Nem, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_to_address() {
        // NEM's published vectors (tests/vectors/nem/crypto/1.test-address.json of the
        // Symbol/NEM SDK test vectors), mainnet and testnet.
        for (key, main, test) in [
            (
                "c5f54ba980fcbb657dbaaa42700539b207873e134d2375efeab5f1ab52f87844",
                "NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4",
                "TDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5KZPFMK2",
            ),
            (
                "96eb2a145211b1b7ab5f0d4b14f8abc8d695c7aee31a3cfc2d4881313c68eea3",
                "NABHFGE5ORQD3LE4O6B7JUFN47ECOFBFASC3SCAC",
                "TABHFGE5ORQD3LE4O6B7JUFN47ECOFBFATE53N2I",
            ),
        ] {
            let key: PublicKey = hex::decode(key).unwrap().try_into().unwrap();
            let a = address_of(&key, MAINNET);
            assert_eq!(a.as_str(), main);
            assert_eq!(address_of(&key, 0x98).as_str(), test);
            // And it passes the model's own checksum validation.
            assert_eq!(parse_address(a.as_str()).unwrap(), a);
        }
    }
}
