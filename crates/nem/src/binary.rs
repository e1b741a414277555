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
    let mut h = Keccak256::new();
    match sig_range {
        Some(s) => {
            h.update(&r.buf[start..s.start]);
            h.update(&r.buf[s.end..r.pos]);
        }
        None => h.update(&r.buf[start..r.pos]),
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
    for _ in 0..n {
        let (k, v) = r.object("mosaic property", |r| {
            Ok((r.string("property name")?, r.string("property value")?))
        })?;
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
        divisibility,
        levy,
        creation_fee_sink: None,
        creation_fee: 0,
    })
}
