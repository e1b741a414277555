//! A NIS1 REST client: timeouts, retries with exponential backoff, and errors that name
//! the node, the request and what was wrong with the answer.

use std::time::Duration;

use ashiato_net::{retrying, Attempt, Failure};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::json::{self, JBlock, JBlockEntry, JData, JHeight, JTx};
use crate::tx::NemBlock;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The first backoff; it doubles after each failed attempt.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            retries: 4,
            backoff: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("NIS1 node {node}: {request}: {why} (after {attempts} attempts)")]
    Unavailable {
        node: String,
        request: String,
        why: String,
        attempts: u32,
    },
    #[error("NIS1 node {node}: {request}: the node lied: {why}")]
    Lied {
        node: String,
        request: String,
        why: String,
    },
}

pub struct Nis1Client {
    base: String,
    http: reqwest::blocking::Client,
    opts: ClientOptions,
}

/// An account's transfer, as `/account/transfers/*` pages give it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JAccountTx {
    pub meta: JTxMeta,
    pub transaction: JTx,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JTxMeta {
    pub id: u64,
    pub height: u64,
    pub hash: json::HashData,
    #[serde(rename = "innerHash", default)]
    pub inner_hash: serde_json::Value,
}

/// A `/namespace/mosaic/definition/page` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JDefinitionEntry {
    pub meta: JId,
    pub mosaic: json::JMosaicDefinition,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JId {
    pub id: u64,
}

/// `/account/get`: an AccountMetaDataPair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JAccountInfo {
    pub account: JAccount,
    pub meta: JAccountMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JAccount {
    pub address: String,
    pub balance: u64,
    #[serde(rename = "vestedBalance")]
    pub vested_balance: u64,
    /// A score, not money: NIS1 gives it as a fraction.
    pub importance: f64,
    #[serde(rename = "publicKey")]
    pub public_key: Option<String>,
    pub label: Option<String>,
    #[serde(rename = "harvestedBlocks")]
    pub harvested_blocks: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JAccountMeta {
    #[serde(rename = "cosignatoryOf", default)]
    pub cosignatory_of: Vec<serde_json::Value>,
    #[serde(default)]
    pub cosignatories: Vec<serde_json::Value>,
    pub status: String,
    #[serde(rename = "remoteStatus")]
    pub remote_status: String,
}

/// An account as the node sees it now, checked: the address is the one asked for and
/// the public key (if the account ever sent) belongs to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    pub address: ashiato_model::Address,
    /// Micro-XEM.
    pub balance: u64,
    pub public_key: Option<crate::tx::PublicKey>,
    pub harvested_blocks: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    Incoming,
    Outgoing,
    All,
}

impl TransferDirection {
    fn path(self) -> &'static str {
        match self {
            TransferDirection::Incoming => "incoming",
            TransferDirection::Outgoing => "outgoing",
            TransferDirection::All => "all",
        }
    }
}

impl Nis1Client {
    pub fn new(base: &str, opts: ClientOptions) -> Result<Nis1Client, ClientError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .build()
            .map_err(|e| ClientError::Unavailable {
                node: base.to_owned(),
                request: "client setup".into(),
                why: e.to_string(),
                attempts: 0,
            })?;
        Ok(Nis1Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
            opts,
        })
    }

    pub fn node(&self) -> &str {
        &self.base
    }

    fn lied(&self, request: &str, why: impl Into<String>) -> ClientError {
        ClientError::Lied {
            node: self.base.clone(),
            request: request.to_owned(),
            why: why.into(),
        }
    }

    /// One request with retries. Transport errors, timeouts, 5xx and bodies that are not
    /// the expected JSON (a truncated body looks like that) are retried; a 4xx is not.
    fn call<T: DeserializeOwned>(
        &self,
        request: &str,
        send: impl Fn(&reqwest::blocking::Client) -> reqwest::Result<reqwest::blocking::Response>,
    ) -> Result<T, ClientError> {
        let judge = |r: reqwest::blocking::Response| {
            let status = r.status();
            match r.bytes() {
                Err(e) => Attempt::Retry(format!("reading the body failed: {e}")),
                Ok(body) if status.is_server_error() => Attempt::Retry(format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                )),
                Ok(body) if !status.is_success() => Attempt::Fatal(self.lied(
                    request,
                    format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ),
                )),
                Ok(body) => match serde_json::from_slice::<T>(&body) {
                    Ok(v) => Attempt::Done(v),
                    Err(e) => Attempt::Retry(format!(
                        "answer is not the expected JSON ({e}; {} bytes)",
                        body.len()
                    )),
                },
            }
        };
        let o = &self.opts;
        retrying(o.timeout, o.retries, o.backoff, || send(&self.http), judge).map_err(|f| match f {
            Failure::Fatal(e) => e,
            Failure::Exhausted { why, attempts } => ClientError::Unavailable {
                node: self.base.clone(),
                request: request.to_owned(),
                why,
                attempts,
            },
        })
    }

    pub fn height(&self) -> Result<u64, ClientError> {
        let url = format!("{}/chain/height", self.base);
        let h: JHeight = self.call("GET /chain/height", |c| c.get(&url).send())?;
        Ok(h.height)
    }

    /// `POST /block/at/public`: one block, transaction hashes computed here.
    pub fn block_at(&self, height: u64) -> Result<NemBlock, ClientError> {
        let url = format!("{}/block/at/public", self.base);
        let req = format!("POST /block/at/public height {height}");
        let j: JBlock = self.call(&req, |c| {
            c.post(&url)
                .json(&serde_json::json!({ "height": height }))
                .send()
        })?;
        if j.height != height {
            return Err(self.lied(&req, format!("asked for block {height}, got {}", j.height)));
        }
        json::block_from_json(&j, None).map_err(|e| self.lied(&req, e.to_string()))
    }

    /// `POST /local/chain/blocks-after`: up to ten blocks with their hashes (local nodes
    /// only: NIS1 answers it to trusted callers).
    pub fn blocks_after(&self, height: u64) -> Result<Vec<NemBlock>, ClientError> {
        let url = format!("{}/local/chain/blocks-after", self.base);
        let req = format!("POST /local/chain/blocks-after height {height}");
        let d: JData<JBlockEntry> = self.call(&req, |c| {
            c.post(&url)
                .json(&serde_json::json!({ "height": height }))
                .send()
        })?;
        let mut out = Vec::with_capacity(d.data.len());
        for (i, e) in d.data.iter().enumerate() {
            let want = height + 1 + i as u64;
            if e.block.height != want {
                return Err(self.lied(
                    &req,
                    format!("entry {i} is block {}, expected {want}", e.block.height),
                ));
            }
            out.push(json::entry_from_json(e).map_err(|e| self.lied(&req, e.to_string()))?);
        }
        Ok(out)
    }

    /// One page of an account's transfers, newest first; pass the last `meta.id` of a page
    /// to get the next one.
    pub fn account_transfers(
        &self,
        address: &str,
        direction: TransferDirection,
        before_id: Option<u64>,
    ) -> Result<Vec<JAccountTx>, ClientError> {
        let mut url = format!(
            "{}/account/transfers/{}?address={address}",
            self.base,
            direction.path()
        );
        if let Some(id) = before_id {
            url.push_str(&format!("&id={id}"));
        }
        let req = format!("GET /account/transfers/{} {address}", direction.path());
        let d: JData<JAccountTx> = self.call(&req, |c| c.get(&url).send())?;
        if let Some(w) = d.data.windows(2).find(|w| w[0].meta.id <= w[1].meta.id) {
            return Err(self.lied(
                &req,
                format!(
                    "page not in descending id order ({} then {})",
                    w[0].meta.id, w[1].meta.id
                ),
            ));
        }
        if let (Some(id), Some(first)) = (before_id, d.data.first()) {
            if first.meta.id >= id {
                return Err(self.lied(
                    &req,
                    format!("page after id {id} starts at {}", first.meta.id),
                ));
            }
        }
        Ok(d.data)
    }

    /// Every mosaic definition of a namespace, all pages (paged by `meta.id` like
    /// transfers). These are the definitions as they stand now; the chain's definition
    /// transactions say what held at a past height.
    pub fn mosaic_definitions(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::tx::MosaicDefinition>, ClientError> {
        let req = format!("GET /namespace/mosaic/definition/page {namespace}");
        let mut out = Vec::new();
        let mut last: Option<u64> = None;
        loop {
            let mut url = format!(
                "{}/namespace/mosaic/definition/page?namespace={namespace}",
                self.base
            );
            if let Some(id) = last {
                url.push_str(&format!("&id={id}"));
            }
            let d: JData<JDefinitionEntry> = self.call(&req, |c| c.get(&url).send())?;
            let Some(tail) = d.data.last() else {
                return Ok(out);
            };
            if last.is_some_and(|l| d.data.iter().any(|e| e.meta.id >= l)) {
                return Err(self.lied(&req, format!("page after id {last:?} repeats ids")));
            }
            last = Some(tail.meta.id);
            for e in &d.data {
                let def = json::definition_from_json(&e.mosaic, "mosaic definition")
                    .map_err(|e| self.lied(&req, e.to_string()))?;
                if !def.id.in_namespace(namespace) {
                    return Err(self.lied(
                        &req,
                        format!("definition {} is not in {namespace}", def.id.asset_name()),
                    ));
                }
                out.push(def);
            }
        }
    }

    /// `GET /account/get`: balance and public key now.
    pub fn account(&self, address: &str) -> Result<AccountInfo, ClientError> {
        let url = format!("{}/account/get?address={address}", self.base);
        let req = format!("GET /account/get {address}");
        let j: JAccountInfo = self.call(&req, |c| c.get(&url).send())?;
        let got = crate::tx::parse_address(&j.account.address)
            .map_err(|e| self.lied(&req, e.to_string()))?;
        if got.as_str() != address {
            return Err(self.lied(&req, format!("asked for {address}, got {got}")));
        }
        let public_key = match j.account.public_key.as_deref() {
            None | Some("") => None,
            Some(k) => {
                let key: crate::tx::PublicKey = hex::decode(k)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| {
                        self.lied(&req, format!("public key {k:?} is not 32 hex bytes"))
                    })?;
                let network = crate::tx::network_of(&got).unwrap_or(crate::tx::MAINNET);
                if crate::tx::address_of(&key, network) != got {
                    return Err(self.lied(&req, format!("public key {k} is not the key of {got}")));
                }
                Some(key)
            }
        };
        Ok(AccountInfo {
            address: got,
            balance: j.account.balance,
            public_key,
            harvested_blocks: j.account.harvested_blocks,
        })
    }

    /// Every transfer of an account, all pages.
    pub fn all_account_transfers(
        &self,
        address: &str,
        direction: TransferDirection,
    ) -> Result<Vec<JAccountTx>, ClientError> {
        let mut out: Vec<JAccountTx> = Vec::new();
        loop {
            let page = self.account_transfers(address, direction, out.last().map(|t| t.meta.id))?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }
}
