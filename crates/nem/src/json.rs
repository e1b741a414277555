//! The NIS1 REST JSON shapes (blocks, transactions, `blocks-after` entries), both ways:
//! parsed into the model for sync, and written from the model by the replay server.

use serde::{Deserialize, Serialize};

use crate::tx::{
    kind, Body, Levy, Message, MosaicDefinition, MosaicId, NemBlock, NemTx, PublicKey,
};

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
}

fn invalid(what: impl Into<String>, why: impl Into<String>) -> JsonError {
    JsonError::Invalid {
        what: what.into(),
        why: why.into(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HashData {
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JMosaicId {
    #[serde(rename = "namespaceId")]
    pub namespace_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JMosaic {
    pub quantity: u64,
    #[serde(rename = "mosaicId")]
    pub mosaic_id: JMosaicId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JProperty {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct JLevy {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, rename = "mosaicId", skip_serializing_if = "Option::is_none")]
    pub mosaic_id: Option<JMosaicId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JMosaicDefinition {
    pub creator: String,
    pub id: JMosaicId,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub properties: Vec<JProperty>,
    #[serde(default)]
    pub levy: JLevy,
}

/// A transaction as NIS1 writes it; fields beyond the common ones depend on `type`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JTx {
    #[serde(rename = "timeStamp")]
    pub time_stamp: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub fee: u64,
    #[serde(rename = "type")]
    pub kind: u32,
    pub deadline: u32,
    /// Signed in NIS1's JSON (testnet versions are negative as i32).
    pub version: i64,
    pub signer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<JMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mosaics: Option<Vec<JMosaic>>,
    #[serde(
        default,
        rename = "otherTrans",
        skip_serializing_if = "Option::is_none"
    )]
    pub other_trans: Option<Box<JTx>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<serde_json::Value>>,
    #[serde(
        default,
        rename = "mosaicDefinition",
        skip_serializing_if = "Option::is_none"
    )]
    pub mosaic_definition: Option<JMosaicDefinition>,
    #[serde(
        default,
        rename = "creationFeeSink",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_fee_sink: Option<String>,
    #[serde(
        default,
        rename = "creationFee",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_fee: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JBlock {
    #[serde(rename = "timeStamp")]
    pub time_stamp: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(rename = "prevBlockHash")]
    pub prev_block_hash: HashData,
    #[serde(rename = "type")]
    pub kind: i32,
    pub transactions: Vec<JTx>,
    pub version: i64,
    pub signer: String,
    pub height: u64,
}

/// One entry of `POST /local/chain/blocks-after`: the block with its hash and its
/// transactions' hashes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JBlockEntry {
    pub block: JBlock,
    pub hash: String,
    #[serde(default)]
    pub difficulty: u64,
    pub txes: Vec<JTxEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JTxEntry {
    pub tx: JTx,
    pub hash: String,
    #[serde(default, rename = "innerHash", skip_serializing_if = "Option::is_none")]
    pub inner_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JData<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JHeight {
    pub height: u64,
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32], JsonError> {
    let v = hex::decode(s).map_err(|e| invalid(what, format!("{s:?} is not hex: {e}")))?;
    v.try_into()
        .map_err(|_| invalid(what, format!("{s:?} is not 32 bytes")))
}

fn key(s: &str, what: &str) -> Result<PublicKey, JsonError> {
    hex32(s, what)
}

fn mosaic_id(j: &JMosaicId) -> MosaicId {
    MosaicId {
        namespace: j.namespace_id.clone(),
        name: j.name.clone(),
    }
}

fn jmosaic_id(m: &MosaicId) -> JMosaicId {
    JMosaicId {
        namespace_id: m.namespace.clone(),
        name: m.name.clone(),
    }
}

fn address(s: &str, what: &str) -> Result<ashiato_model::Address, JsonError> {
    crate::tx::parse_address(s).map_err(|e| invalid(what, e.to_string()))
}

/// The model of a NIS1 JSON transaction. `hash` comes from the source, when it has one.
/// A mosaic definition as a definition transaction or `/namespace/mosaic/definition/page`
/// gives it (the creation fee lives on the transaction, not here).
pub fn definition_from_json(
    d: &JMosaicDefinition,
    what: &str,
) -> Result<MosaicDefinition, JsonError> {
    let divisibility = d
        .properties
        .iter()
        .find(|p| p.name == "divisibility")
        .map(|p| p.value.parse::<u8>())
        .transpose()
        .map_err(|e| invalid(format!("{what} divisibility"), e.to_string()))?
        .unwrap_or(0);
    let levy = match (
        &d.levy.kind,
        &d.levy.recipient,
        &d.levy.mosaic_id,
        d.levy.fee,
    ) {
        (Some(k), Some(r), Some(m), Some(fee)) => Some(Levy {
            kind: *k,
            recipient: address(r, &format!("{what} levy recipient"))?,
            mosaic: mosaic_id(m),
            fee,
        }),
        _ => None,
    };
    Ok(MosaicDefinition {
        creator: key(&d.creator, &format!("{what} creator"))?,
        id: mosaic_id(&d.id),
        description: d.description.clone(),
        properties: d
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect(),
        divisibility,
        levy,
        creation_fee_sink: None,
        creation_fee: 0,
    })
}

pub fn definition_to_json(d: &MosaicDefinition) -> JMosaicDefinition {
    JMosaicDefinition {
        creator: hex::encode(d.creator),
        id: jmosaic_id(&d.id),
        description: d.description.clone(),
        properties: d
            .properties
            .iter()
            .map(|(name, value)| JProperty {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
        levy: match &d.levy {
            Some(l) => JLevy {
                kind: Some(l.kind),
                recipient: Some(l.recipient.to_string()),
                mosaic_id: Some(jmosaic_id(&l.mosaic)),
                fee: Some(l.fee),
            },
            None => JLevy::default(),
        },
    }
}

pub fn tx_from_json(j: &JTx, hash: Option<[u8; 32]>, what: &str) -> Result<NemTx, JsonError> {
    let body = match j.kind {
        kind::TRANSFER => {
            let recipient = address(
                j.recipient
                    .as_deref()
                    .ok_or_else(|| invalid(what, "transfer without recipient"))?,
                &format!("{what} recipient"),
            )?;
            let message = match &j.message {
                Some(JMessage {
                    payload: Some(p),
                    kind: Some(k),
                }) if !p.is_empty() => Some(Message {
                    kind: *k,
                    payload: hex::decode(p)
                        .map_err(|e| invalid(format!("{what} message"), e.to_string()))?,
                }),
                _ => None,
            };
            Body::Transfer {
                recipient,
                amount: j
                    .amount
                    .ok_or_else(|| invalid(what, "transfer without amount"))?,
                message,
                mosaics: j
                    .mosaics
                    .iter()
                    .flatten()
                    .map(|m| (mosaic_id(&m.mosaic_id), m.quantity))
                    .collect(),
            }
        }
        kind::MULTISIG => {
            let inner = j
                .other_trans
                .as_deref()
                .ok_or_else(|| invalid(what, "multisig without otherTrans"))?;
            Body::Multisig {
                inner: Box::new(tx_from_json(inner, None, &format!("{what} inner"))?),
            }
        }
        kind::MOSAIC_DEFINITION => {
            let d = j
                .mosaic_definition
                .as_ref()
                .ok_or_else(|| invalid(what, "mosaic definition missing"))?;
            let mut def = definition_from_json(d, what)?;
            def.creation_fee_sink = j
                .creation_fee_sink
                .as_deref()
                .map(|s| address(s, &format!("{what} creation fee sink")))
                .transpose()?;
            def.creation_fee = j.creation_fee.unwrap_or(0);
            Body::MosaicDefinition(def)
        }
        _ => Body::Other,
    };
    let mut t = NemTx {
        kind: j.kind,
        version: j.version as u32,
        timestamp: j.time_stamp,
        signer: key(&j.signer, &format!("{what} signer"))?,
        fee: j.fee,
        deadline: j.deadline,
        body,
        hash,
    };
    if t.hash.is_none() {
        t.hash = crate::binary::tx_hash(&t);
    }
    Ok(t)
}

/// The NIS1 JSON of a model transaction (the replay server's side).
pub fn tx_to_json(t: &NemTx) -> JTx {
    let mut j = JTx {
        time_stamp: t.timestamp,
        signature: Some("00".repeat(64)),
        fee: t.fee,
        kind: t.kind,
        deadline: t.deadline,
        version: i64::from(t.version as i32),
        signer: hex::encode(t.signer),
        recipient: None,
        amount: None,
        message: None,
        mosaics: None,
        other_trans: None,
        signatures: None,
        mosaic_definition: None,
        creation_fee_sink: None,
        creation_fee: None,
    };
    match &t.body {
        Body::Transfer {
            recipient,
            amount,
            message,
            mosaics,
        } => {
            j.recipient = Some(recipient.to_string());
            j.amount = Some(*amount);
            j.message = Some(match message {
                Some(m) => JMessage {
                    payload: Some(hex::encode(&m.payload)),
                    kind: Some(m.kind),
                },
                None => JMessage {
                    payload: None,
                    kind: None,
                },
            });
            if t.version & 0x00ff_ffff >= 2 {
                j.mosaics = Some(
                    mosaics
                        .iter()
                        .map(|(m, q)| JMosaic {
                            quantity: *q,
                            mosaic_id: jmosaic_id(m),
                        })
                        .collect(),
                );
            }
        }
        Body::Multisig { inner } => {
            let mut i = tx_to_json(inner);
            i.signature = None;
            j.other_trans = Some(Box::new(i));
            j.signatures = Some(Vec::new());
        }
        Body::MosaicDefinition(d) => {
            j.mosaic_definition = Some(definition_to_json(d));
            j.creation_fee_sink = d.creation_fee_sink.as_ref().map(|a| a.to_string());
            j.creation_fee = Some(d.creation_fee);
        }
        Body::Other => {}
    }
    j
}

/// A `/block/at/public` block: the node gives no transaction hashes, so they are
/// computed here.
pub fn block_from_json(j: &JBlock, hash: Option<[u8; 32]>) -> Result<NemBlock, JsonError> {
    block_with_tx_hashes(j, hash, &[])
}

/// `tx_hashes[i]` is transaction `i`'s hash as the source gives it; missing ones are
/// computed (by [`tx_from_json`]).
fn block_with_tx_hashes(
    j: &JBlock,
    hash: Option<[u8; 32]>,
    tx_hashes: &[[u8; 32]],
) -> Result<NemBlock, JsonError> {
    let what = format!("block {}", j.height);
    let txs = j
        .transactions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            tx_from_json(
                t,
                tx_hashes.get(i).copied(),
                &format!("{what} transaction {i}"),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NemBlock {
        height: j.height,
        timestamp: j.time_stamp,
        signer: key(&j.signer, &format!("{what} signer"))?,
        prev_hash: hex32(&j.prev_block_hash.data, &format!("{what} prevBlockHash"))?,
        hash,
        txs,
    })
}

/// A `blocks-after` entry: the block, its hash, and each transaction's hash (taken as
/// given, not recomputed).
pub fn entry_from_json(e: &JBlockEntry) -> Result<NemBlock, JsonError> {
    let what = format!("block {}", e.block.height);
    if e.txes.len() != e.block.transactions.len() {
        return Err(invalid(
            what,
            format!(
                "{} transaction hashes for {} transactions",
                e.txes.len(),
                e.block.transactions.len()
            ),
        ));
    }
    let tx_hashes = e
        .txes
        .iter()
        .enumerate()
        .map(|(i, x)| hex32(&x.hash, &format!("{what} transaction {i} hash")))
        .collect::<Result<Vec<_>, _>>()?;
    block_with_tx_hashes(
        &e.block,
        Some(hex32(&e.hash, &format!("{what} hash"))?),
        &tx_hashes,
    )
}

pub fn block_to_json(b: &NemBlock) -> JBlock {
    JBlock {
        time_stamp: b.timestamp,
        signature: Some("00".repeat(64)),
        prev_block_hash: HashData {
            data: hex::encode(b.prev_hash),
        },
        kind: 1,
        transactions: b.txs.iter().map(tx_to_json).collect(),
        version: i64::from(0x6800_0001_u32 as i32),
        signer: hex::encode(b.signer),
        height: b.height,
    }
}

pub fn entry_to_json(b: &NemBlock) -> JBlockEntry {
    let block = block_to_json(b);
    JBlockEntry {
        hash: hex::encode(b.hash.unwrap_or_default()),
        difficulty: 100_000_000_000_000,
        txes: b
            .txs
            .iter()
            .zip(&block.transactions)
            .map(|(t, j)| JTxEntry {
                tx: j.clone(),
                hash: hex::encode(t.hash.unwrap_or_default()),
                inner_hash: match &t.body {
                    Body::Multisig { inner } => inner.hash.map(hex::encode),
                    _ => None,
                },
            })
            .collect(),
        block,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_round_trips_through_nis1_json() {
        let b = crate::binary::parse_block(include_bytes!("../tests/data/nemesis-mainnet.bin"))
            .unwrap();
        let j = serde_json::to_string(&entry_to_json(&b)).unwrap();
        let back: JBlockEntry = serde_json::from_str(&j).unwrap();
        let mut b2 = entry_from_json(&back).unwrap();
        b2.hash = b.hash;
        // Types this model does not parse (multisig modifications) come back as Other
        // either way; everything else is equal field by field.
        assert_eq!(b2, b);
    }

    #[test]
    fn parses_a_nis1_transfer_with_mosaics_and_message() {
        // Shape of a NIS1 `/block/at/public` transaction, version 2 (mainnet).
        let j = r#"{"timeStamp":9111526,"amount":2000000,"signature":"aa","fee":150000,
            "recipient":"NDD2CT6LQLIYQ56KIXI3ENTM6EK3D44P5JFXJ4R4","type":257,"deadline":9154726,
            "message":{"payload":"68656c6c6f","type":1},"version":1744830466,
            "mosaics":[{"quantity":5,"mosaicId":{"namespaceId":"mizunashi","name":"tag"}}],
            "signer":"c5f54ba980fcbb657dbaaa42700539b207873e134d2375efeab5f1ab52f87844"}"#;
        let t: JTx = serde_json::from_str(j).unwrap();
        let m = tx_from_json(&t, None, "test").unwrap();
        match &m.body {
            Body::Transfer {
                amount,
                message,
                mosaics,
                ..
            } => {
                assert_eq!(*amount, 2_000_000);
                assert_eq!(message.as_ref().unwrap().text().unwrap(), "hello");
                assert_eq!(mosaics.len(), 1);
                assert_eq!(mosaics[0].0.asset_name(), "mizunashi:tag");
            }
            other => panic!("{other:?}"),
        }
        // A bad recipient checksum names the field.
        let bad = j.replace("JFXJ4R4", "JFXJ4R5");
        let t: JTx = serde_json::from_str(&bad).unwrap();
        let e = tx_from_json(&t, None, "block 7 transaction 3").unwrap_err();
        assert!(
            e.to_string().contains("block 7 transaction 3 recipient"),
            "{e}"
        );
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
