//! A SYNTHETIC NIS1 chain for benchmarks and tests at volume: seeded, deterministic,
//! with every body the sync handles (XEM transfers, mosaic transfers with a levy,
//! multisig-wrapped transfers, messages, a mosaic definition). Balances are not
//! simulated: senders may spend what they never received. It is load, not history.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use ashiato_model::Address;

use crate::tx::{
    address_of, kind, Body, Levy, Message, MosaicDefinition, MosaicId, NemBlock, NemTx, PublicKey,
    MAINNET,
};

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub seed: u64,
    pub blocks: u64,
    pub txs_per_block: usize,
    pub accounts: usize,
}

/// The mosaic every synthetic chain defines in block 1: divisibility 3, a 1 % levy in XEM.
pub fn token() -> MosaicId {
    MosaicId {
        namespace: "synth.bench".into(),
        name: "token".into(),
    }
}

/// Seals a block onto `blocks`: height, link and a stand-in hash (NIS1 hashes the signed
/// block; synthetic blocks carry no signatures, so the hash is Keccak-256 of the block's
/// identity, which lets a sync check the links).
pub fn push_block(
    blocks: &mut Vec<NemBlock>,
    harvester: PublicKey,
    timestamp: u32,
    txs: Vec<NemTx>,
) {
    let mut b = NemBlock {
        height: blocks.len() as u64 + 1,
        timestamp,
        signer: harvester,
        prev_hash: blocks.last().and_then(|b| b.hash).unwrap_or_default(),
        hash: None,
        txs,
    };
    let id = crate::sync::identity(&b);
    b.hash = hex::decode(id).ok().and_then(|v| v.try_into().ok());
    blocks.push(b);
}

pub fn hashed(mut tx: NemTx) -> NemTx {
    tx.hash = crate::binary::tx_hash(&tx);
    tx
}

pub fn transfer_tx(
    ts: u32,
    from: &PublicKey,
    to: &Address,
    amount: u64,
    message: Option<Message>,
    mosaics: Vec<(MosaicId, u64)>,
) -> NemTx {
    let version = if mosaics.is_empty() {
        0x6800_0001
    } else {
        0x6800_0002
    };
    hashed(NemTx {
        kind: kind::TRANSFER,
        version,
        timestamp: ts,
        signer: *from,
        fee: 50_000 + if message.is_some() { 50_000 } else { 0 },
        deadline: ts + 3_600,
        body: Body::Transfer {
            recipient: to.clone(),
            amount,
            message,
            mosaics,
        },
        hash: None,
    })
}

/// A mosaic definition transaction signed by the definition's creator.
pub fn definition_tx(ts: u32, def: MosaicDefinition) -> NemTx {
    hashed(NemTx {
        kind: kind::MOSAIC_DEFINITION,
        version: 0x6800_0001,
        timestamp: ts,
        signer: def.creator,
        fee: 150_000,
        deadline: ts + 3_600,
        body: Body::MosaicDefinition(def),
        hash: None,
    })
}

/// Builds the chain; the same options give the same chain, byte for byte.
pub fn chain(o: &SynthOptions) -> Vec<NemBlock> {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut key = || {
        let mut k = [0u8; 32];
        rng.fill(&mut k);
        k
    };
    let harvesters: Vec<PublicKey> = (0..8).map(|_| key()).collect();
    let root = key();
    let sink = address_of(&key(), MAINNET);
    let cosigner = key();
    let keys: Vec<PublicKey> = (0..o.accounts.max(2)).map(|_| key()).collect();
    let addrs: Vec<Address> = keys.iter().map(|k| address_of(k, MAINNET)).collect();
    let mut blocks = Vec::with_capacity(o.blocks as usize);
    // 2018-01-01T00:00:00Z in NEM time.
    let t0: u32 = 86_831_615;
    let definition = definition_tx(
        t0,
        MosaicDefinition {
            creator: root,
            id: token(),
            description: "SYNTHETIC benchmark token".into(),
            properties: vec![
                ("divisibility".into(), "3".into()),
                ("initialSupply".into(), "1000000000".into()),
                ("supplyMutable".into(), "false".into()),
                ("transferable".into(), "true".into()),
            ],
            divisibility: 3,
            levy: Some(Levy {
                kind: 2,
                recipient: sink.clone(),
                mosaic: MosaicId {
                    namespace: "nem".into(),
                    name: "xem".into(),
                },
                fee: 100,
            }),
            creation_fee_sink: Some(sink),
            creation_fee: 10_000_000,
        },
    );
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ 0x5eed);
    for h in 1..=o.blocks {
        let ts = t0 + (h as u32) * 60;
        let mut txs = Vec::with_capacity(o.txs_per_block);
        if h == 1 {
            txs.push(definition.clone());
        }
        while txs.len() < o.txs_per_block {
            let s = rng.random_range(0..keys.len());
            let mut r = rng.random_range(0..keys.len() - 1);
            if r >= s {
                r += 1;
            }
            let xem = rng.random_range(1..10_000u64) * 1_000_000;
            let roll = rng.random_range(0..100u32);
            let message = (roll % 20 == 0).then(|| Message {
                kind: 1,
                payload: format!("synthetic memo {h}-{}", txs.len()).into_bytes(),
            });
            let mosaics = if roll < 10 {
                vec![(token(), rng.random_range(1..1_000_000u64))]
            } else {
                Vec::new()
            };
            let amount = if mosaics.is_empty() { xem } else { 1_000_000 };
            let inner = transfer_tx(ts, &keys[s], &addrs[r], amount, message, mosaics);
            txs.push(if (10..15).contains(&roll) {
                hashed(NemTx {
                    kind: kind::MULTISIG,
                    version: 0x6800_0001,
                    timestamp: ts,
                    signer: cosigner,
                    fee: 150_000,
                    deadline: ts + 3_600,
                    body: Body::Multisig {
                        inner: Box::new(inner),
                    },
                    hash: None,
                })
            } else {
                inner
            });
        }
        let harvester = harvesters[(h % 8) as usize];
        push_block(&mut blocks, harvester, ts, txs);
    }
    blocks
}
