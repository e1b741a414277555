//! The NIS1 binary serialisation of blocks and transactions (little-endian; byte arrays,
//! strings and nested objects carry a u32 length). Every length is checked against what
//! remains before anything is allocated, so a corrupt length fails with the offset where
//! it was read instead of asking for gigabytes.

use ashiato_model::Address;
use sha3::{Digest, Keccak256};

use crate::tx::{
    kind, Body, Levy, Message, MosaicDefinition, MosaicId, NemBlock, NemTx, PublicKey,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    #[error(
        "byte {offset}: {what} needs {need} bytes but only {left} remain (truncated or corrupt)"
    )]
    Truncated {
        offset: usize,
        what: &'static str,
        need: u64,
        left: usize,
    },
    #[error("byte {offset}: {what}: {why}")]
    Invalid {
        offset: usize,
        what: &'static str,
        why: String,
    },
    #[error("byte {offset}: {left} bytes follow the end of the block")]
    Trailing { offset: usize, left: usize },
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], BinaryError> {
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(BinaryError::Truncated {
                offset: self.pos,
                what,
                need: n,
                left,
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, BinaryError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, BinaryError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    /// A length-prefixed byte array.
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], BinaryError> {
        let n = self.u32(what)?;
        self.take(u64::from(n), what)
    }
    fn fixed<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BinaryError> {
        let at = self.pos;
        let b = self.bytes(what)?;
        b.try_into().map_err(|_| BinaryError::Invalid {
            offset: at,
            what,
            why: format!("length {} instead of {N}", b.len()),
        })
    }
    fn string(&mut self, what: &'static str) -> Result<String, BinaryError> {
        let at = self.pos;
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| BinaryError::Invalid {
            offset: at,
            what,
            why: "not UTF-8".into(),
        })
    }
    fn address(&mut self, what: &'static str) -> Result<Address, BinaryError> {
        let at = self.pos;
        let s = self.string(what)?;
        crate::tx::parse_address(&s).map_err(|e| BinaryError::Invalid {
            offset: at,
            what,
            why: e.to_string(),
        })
    }
    /// A length-prefixed nested object, read by `f` from exactly its bytes.
    fn object<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, BinaryError>,
    ) -> Result<T, BinaryError> {
        let body = self.bytes(what)?;
        let start = self.pos - body.len();
        let mut r = Reader {
            buf: &self.buf[..start + body.len()],
            pos: start,
        };
        let v = f(&mut r)?;
        if r.pos != start + body.len() {
            return Err(BinaryError::Invalid {
                offset: r.pos,
                what,
                why: format!(
                    "object declared {} bytes, its fields used {}",
                    body.len(),
                    r.pos - start
                ),
            });
        }
        Ok(v)
    }
    fn count(&mut self, what: &'static str, min_item: u64) -> Result<u32, BinaryError> {
        let at = self.pos;
        let n = self.u32(what)?;
        let left = (self.buf.len() - self.pos) as u64;
        if u64::from(n) * min_item > left {
            return Err(BinaryError::Truncated {
                offset: at,
                what,
                need: u64::from(n) * min_item,
                left: left as usize,
            });
        }
        Ok(n)
    }
}

/// Parses one NIS1 binary block (as `nemesis.bin` stores it), transaction hashes included.
pub fn parse_block(buf: &[u8]) -> Result<NemBlock, BinaryError> {
    let mut r = Reader { buf, pos: 0 };
    let _kind = r.u32("block type")?;
    let _version = r.u32("block version")?;
    let timestamp = r.u32("block timestamp")?;
    let signer: PublicKey = r.fixed("block signer")?;
    let _sig: [u8; 64] = r.fixed("block signature")?;
    let prev_hash: [u8; 32] = r.object("previous block hash", |r| r.fixed("hash"))?;
    let height = r.u64("block height")?;
    let n = r.count("transaction count", 4)?;
    let mut txs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let at = r.pos;
        let raw = r.bytes("transaction")?;
        let start = r.pos - raw.len();
        let mut t = Reader {
            buf: &buf[..start + raw.len()],
            pos: start,
        };
        let tx = transaction(&mut t, true)?;
        if t.pos != start + raw.len() {
            return Err(BinaryError::Invalid {
                offset: at,
                what: "transaction",
                why: "declared length does not match its fields".into(),
            });
        }
        txs.push(tx);
    }
    if r.pos != buf.len() {
        return Err(BinaryError::Trailing {
            offset: r.pos,
            left: buf.len() - r.pos,
        });
    }
    Ok(NemBlock {
        height,
        timestamp,
        signer,
        prev_hash,
        hash: None,
        txs,
    })
}

/// One transaction; `signed` when the serialisation carries the signature (a block's
/// transactions do, a multisig's inner transaction does not). The hash is Keccak-256 of
/// the bytes without the signature, as NIS1 computes it.
fn transaction(r: &mut Reader<'_>, signed: bool) -> Result<NemTx, BinaryError> {
    let start = r.pos;
    let kind = r.u32("transaction type")?;
    let version = r.u32("transaction version")?;
    let timestamp = r.u32("transaction timestamp")?;
    let signer: PublicKey = r.fixed("transaction signer")?;
    let sig_range = if signed {
        let s = r.pos;
        let _sig: [u8; 64] = r.fixed("transaction signature")?;
        Some(s..r.pos)
    } else {
        None
    };
    let fee = r.u64("fee")?;
    let deadline = r.u32("deadline")?;
    let mut hashed_end = None;
    let body = match kind {
        kind::TRANSFER => {
            let recipient = r.address("recipient")?;
            let amount = r.u64("amount")?;
            let message = message(r)?;
            let mut mosaics = Vec::new();
            if version & 0x00ff_ffff >= 2 {
                let n = r.count("mosaic count", 4)?;
                for _ in 0..n {
                    mosaics.push(r.object("mosaic", |r| {
                        let id = r.object("mosaic id", mosaic_id)?;
                        Ok((id, r.u64("mosaic quantity")?))
                    })?);
                }
            }
            Body::Transfer {
                recipient,
                amount,
                message,
                mosaics,
            }
        }
        kind::MULTISIG => {
            let inner = r.object("inner transaction", |r| transaction(r, false))?;
            if signed {
                // Cosignatures follow, outside the hash; the outer length bounds them.
                hashed_end = Some(r.pos);
                r.pos = r.buf.len();
            }
            Body::Multisig {
                inner: Box::new(inner),
            }
        }
        kind::MOSAIC_DEFINITION => {
            let mut d = r.object("mosaic definition", mosaic_definition)?;
            d.creation_fee_sink = Some(r.address("creation fee sink")?);
            d.creation_fee = r.u64("creation fee")?;
            Body::MosaicDefinition(d)
        }
        _ => {
            // Other types are counted, not parsed: the caller's length prefix bounds them.
            r.pos = r.buf.len();
            Body::Other
        }
    };
    let end = hashed_end.unwrap_or(r.pos);
    let mut h = Keccak256::new();
    match sig_range {
        Some(s) => {
            h.update(&r.buf[start..s.start]);
            h.update(&r.buf[s.end..end]);
        }
        None => h.update(&r.buf[start..end]),
    }
    Ok(NemTx {
        kind,
        version,
        timestamp,
        signer,
        fee,
        deadline,
        body,
        hash: Some(h.finalize().into()),
    })
}

fn message(r: &mut Reader<'_>) -> Result<Option<Message>, BinaryError> {
    let at = r.pos;
    let n = r.u32("message length")?;
    if n == 0 {
        return Ok(None);
    }
    r.pos = at;
    r.object("message", |r| {
        let kind = r.u32("message type")?;
        let payload = r.bytes("message payload")?.to_vec();
        Ok(Some(Message { kind, payload }))
    })
}

fn mosaic_id(r: &mut Reader<'_>) -> Result<MosaicId, BinaryError> {
    Ok(MosaicId {
        namespace: r.string("namespace")?,
        name: r.string("mosaic name")?,
    })
}

fn mosaic_definition(r: &mut Reader<'_>) -> Result<MosaicDefinition, BinaryError> {
    let creator: PublicKey = r.fixed("mosaic creator")?;
    let id = r.object("mosaic id", mosaic_id)?;
    let description = r.string("mosaic description")?;
    let n = r.count("mosaic property count", 4)?;
    let mut divisibility = 0u8;
    let mut properties = Vec::new();
    for _ in 0..n {
        let (k, v) = r.object("mosaic property", |r| {
            Ok((r.string("property name")?, r.string("property value")?))
        })?;
        properties.push((k.clone(), v.clone()));
        if k == "divisibility" {
            divisibility = v.parse().map_err(|_| BinaryError::Invalid {
                offset: r.pos,
                what: "divisibility",
                why: format!("{v:?} is not a small integer"),
            })?;
        }
    }
    let at = r.pos;
    let levy = if r.u32("levy length")? == 0 {
        None
    } else {
        r.pos = at;
        Some(r.object("levy", |r| {
            Ok(Levy {
                kind: r.u32("levy type")?,
                recipient: r.address("levy recipient")?,
                mosaic: r.object("levy mosaic id", mosaic_id)?,
                fee: r.u64("levy fee")?,
            })
        })?)
    };
    Ok(MosaicDefinition {
        creator,
        id,
        description,
        properties,
        divisibility,
        levy,
        creation_fee_sink: None,
        creation_fee: 0,
    })
}

/// NIS1's hash of a transaction: Keccak-256 of its serialisation without signature (and,
/// for a multisig, without cosignatures). `None` for types this model keeps as `Other`,
/// whose fields it does not hold.
pub fn tx_hash(t: &NemTx) -> Option<[u8; 32]> {
    Some(Keccak256::digest(unsigned_bytes(t)?).into())
}

/// The non-verifiable serialisation of a transaction, field for field as NIS1 writes it.
pub fn unsigned_bytes(t: &NemTx) -> Option<Vec<u8>> {
    let mut w = Writer(Vec::with_capacity(200));
    w.u32(t.kind);
    w.u32(t.version);
    w.u32(t.timestamp);
    w.bytes(&t.signer);
    w.u64(t.fee);
    w.u32(t.deadline);
    match &t.body {
        Body::Transfer {
            recipient,
            amount,
            message,
            mosaics,
        } => {
            w.bytes(recipient.as_str().as_bytes());
            w.u64(*amount);
            match message {
                Some(m) => {
                    w.u32(8 + m.payload.len() as u32);
                    w.u32(m.kind);
                    w.bytes(&m.payload);
                }
                None => w.u32(0),
            }
            if t.version & 0x00ff_ffff >= 2 {
                w.u32(mosaics.len() as u32);
                for (id, q) in mosaics {
                    let id_bytes = mosaic_id_bytes(id);
                    w.u32(4 + id_bytes.len() as u32 + 8);
                    w.bytes(&id_bytes);
                    w.u64(*q);
                }
            }
        }
        Body::Multisig { inner } => w.bytes(&unsigned_bytes(inner)?),
        Body::MosaicDefinition(d) => {
            let mut dw = Writer(Vec::new());
            dw.bytes(&d.creator);
            dw.bytes(&mosaic_id_bytes(&d.id));
            dw.bytes(d.description.as_bytes());
            dw.u32(d.properties.len() as u32);
            for (k, v) in &d.properties {
                let mut pw = Writer(Vec::new());
                pw.bytes(k.as_bytes());
                pw.bytes(v.as_bytes());
                dw.bytes(&pw.0);
            }
            match &d.levy {
                Some(l) => {
                    let mut lw = Writer(Vec::new());
                    lw.u32(l.kind);
                    lw.bytes(l.recipient.as_str().as_bytes());
                    lw.bytes(&mosaic_id_bytes(&l.mosaic));
                    lw.u64(l.fee);
                    dw.bytes(&lw.0);
                }
                None => dw.u32(0),
            }
            w.bytes(&dw.0);
            w.bytes(d.creation_fee_sink.as_ref()?.as_str().as_bytes());
            w.u64(d.creation_fee);
        }
        Body::Other => return None,
    }
    Some(w.0)
}

fn mosaic_id_bytes(id: &MosaicId) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.bytes(id.namespace.as_bytes());
    w.bytes(id.name.as_bytes());
    w.0
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::Message;

    /// NEM's published vector (symbol/symbol sdk/python tests/facade/test_NemFacade.py):
    /// a testnet v1 transfer and the same transfer wrapped in a multisig.
    #[test]
    fn hashes_match_the_published_vector() {
        let signer: PublicKey =
            hex::decode("A59277D56E9F4FA46854F5EFAAA253B09F8AE69A473565E01FD9E6A738E4AB74")
                .unwrap()
                .try_into()
                .unwrap();
        let transfer = NemTx {
            kind: kind::TRANSFER,
            version: 0x9800_0001,
            timestamp: 191_205_516,
            signer,
            fee: 100_000,
            deadline: 191_291_916,
            body: Body::Transfer {
                recipient: Address::parse(
                    ashiato_model::Chain::Nem,
                    "TALICE5VF6J5FYMTCB7A3QG6OIRDRUXDWJGFVXNW",
                )
                .unwrap(),
                amount: 5_100_000,
                message: Some(Message {
                    kind: 1,
                    payload: b"blah blah".to_vec(),
                }),
                mosaics: Vec::new(),
            },
            hash: None,
        };
        let bytes = unsigned_bytes(&transfer).unwrap();
        assert_eq!(
            hex::encode(&bytes),
            "01010000010000988c90650b20000000a59277d56e9f4fa46854f5efaaa253b09f8ae69a473565e01fd9e6a738e4ab74a0860100000000000ce2660b2800000054414c494345355646364a3546594d5443423741335147364f49524452555844574a474656584e57e0d14d0000000000110000000100000009000000626c616820626c6168"
        );
        assert_eq!(
            hex::encode_upper(tx_hash(&transfer).unwrap()),
            "A7064DB890A4E7329AAB2AE7DCFA5EC76D7E374590C61EC85E03C698DF4EA79D"
        );
        let multisig = NemTx {
            kind: kind::MULTISIG,
            version: 0x9800_0001,
            fee: 0x12_3456,
            body: Body::Multisig {
                inner: Box::new(transfer.clone()),
            },
            ..transfer
        };
        assert_eq!(
            hex::encode_upper(tx_hash(&multisig).unwrap()),
            "B585BC092CDDDCBA535FD6C0DE38F26EB44E6BA638A0BA6DFAD4BAA7E7AAE1B8"
        );
    }

    #[test]
    fn binary_and_serialiser_agree_on_the_nemesis_block() {
        let b = parse_block(include_bytes!("../tests/data/nemesis-mainnet.bin")).unwrap();
        let mut checked = 0;
        for t in &b.txs {
            if let Some(h) = tx_hash(t) {
                assert_eq!(Some(h), t.hash);
                checked += 1;
            }
        }
        assert_eq!(checked, 1_347);
    }
}
