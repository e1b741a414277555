//! The Coincheck 2018 case as a fixture chain: the published facts (amounts, counts,
//! times, the 11 hacker accounts, the dust spray, the Zaif deposits) laid out as NIS1
//! blocks, with every part that is not public fact generated from a fixed seed and named
//! SYNTHETIC (see `data/nem-coincheck/README.md`).
//!
//! NIS1 names a sender only by its public key, and the real accounts' keys are not part
//! of the facts; a key cannot be made up for a given address. So accounts that *send* in
//! the fixture (the hot wallet, the hacker accounts, the spray recipients) are stand-ins
//! with seeded keys, and the labels map each stand-in to the real published address.
//! Accounts that only receive (the exchanges) are the real addresses.

use ashiato_model::{Address, Chain, Incident, Label, LabelKind, UtcTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::synth::{push_block, transfer_tx};
use crate::tx::{address_of, Message, NemBlock, PublicKey, MAINNET, NEM_EPOCH_UNIX};

pub const SEED: u64 = 2018;
pub const THEFT_TOTAL_XEM: u64 = 526_300_010;
pub const XEM: u64 = 1_000_000;
/// JST is UTC+9: 2018-01-26 00:02 JST.
pub const THEFT_START: &str = "2018-01-25T15:02:00Z";

/// The real published addresses (accounts.csv of the facts data set).
pub const REAL_HOT_WALLET: &str = "NC3BI3DNMR2PGEOOMP2NKXQGSAKMS7GYRKVA5CSZ";
pub const REAL_HACKERS: [&str; 11] = [
    "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG",
    "NCM6WE7SJFDVTLSPTMZGBUZUETDYINITILS3DCIZ",
    "NDZZJBH6JZPYSWRPRYHALLWMITWHOYTQGXR53HAW",
    "NA7SZ75KF6ZKK267TRKCJDJBWP5JKIC2HA5PXCKW",
    "NDODXOWEIZGJSMAEURXACF4IEHC2CB7Q6T56V7SQ",
    "NDDZVF32WB3LWRNG3IVGHCOCAZWENCNRGEZJVCJI",
    "NB4QJJCLTZWVFWRFBKEMFOONOZFDH3V5IDK3G524",
    "NCTWFIOOVITRZYSYIGQ3PEI3IMVB25KMED53EWFQ",
    "NA6JSWNF24Y7DVIUVPKRNAY7TPOFJJ7G2URL7KU5",
    "NBKLQYXEIVEEGARYPUM62UJIFHA3Y6R4LAPU6NP4",
    "NCF6IA5ZNKIUXE3COV7WK23EIOBEPDV5DJFZQTTH",
];
/// Exchanges: real addresses, receive only (symbol/product known-accounts.json).
pub const EXCHANGES: [(&str, &str); 5] = [
    ("NAGJG3QFWYZ37LMI7IQPSGQNYADGSJZGJRD2DIYA", "Zaif"),
    (
        "NCES7OKBYZRCSTSNRX45H6E67J6OXABKNT6IRD2P",
        "Zaif cold wallet",
    ),
    ("NDHEJKXY6YK7JGRFQT2L7P3O5VMUGR4BWKQNVXXQ", "Binance"),
    ("NDV3DTJVBQRUPHYQRWRP4Q7IRRDN3CAPUFGZ7UXI", "Kuna"),
    ("NBRT3YQTVHLTYBDUXH2HHURI5KCYDWRWJ63YWIGG", "YoBit"),
];

/// The fixture chain and everything a trace of it needs.
pub struct Fixture {
    pub blocks: Vec<NemBlock>,
    pub hot_wallet: Address,
    /// Stand-ins of the 11 hacker accounts, in the order of [`REAL_HACKERS`].
    pub hackers: Vec<Address>,
    /// The 9 accounts of the 30 Jan spray (SYNTHETIC stand-ins with earlier history).
    pub spray_recipients: Vec<Address>,
    pub labels: Vec<Label>,
    pub incident: Incident,
}

fn utc(s: &str) -> i64 {
    UtcTime::parse(s).expect("static time").unix()
}

struct Gen {
    rng: ChaCha8Rng,
    blocks: Vec<NemBlock>,
    harvester: PublicKey,
}

impl Gen {
    fn key(&mut self) -> PublicKey {
        let mut k = [0u8; 32];
        self.rng.fill(&mut k);
        k
    }

    /// One transfer in its own block at `unix` (blocks are about a minute apart on NEM;
    /// one transaction a block keeps every time exact).
    fn transfer(
        &mut self,
        unix: i64,
        from: &PublicKey,
        to: &Address,
        micro: u64,
        msg: Option<&str>,
    ) {
        let ts = (unix - NEM_EPOCH_UNIX) as u32;
        let message = msg.map(|m| Message {
            kind: 1,
            payload: m.as_bytes().to_vec(),
        });
        let tx = transfer_tx(ts, from, to, micro, message, Vec::new());
        push_block(&mut self.blocks, self.harvester, ts, vec![tx]);
    }
}

/// Builds the fixture. Deterministic: the same seed gives the same chain, byte for byte.
pub fn build(seed: u64) -> Fixture {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        blocks: Vec::new(),
        harvester: [0u8; 32],
    };
    g.harvester = g.key();
    let funder = g.key();
    let hot_key = g.key();
    let hot = address_of(&hot_key, MAINNET);
    let hacker_keys: Vec<PublicKey> = (0..11).map(|_| g.key()).collect();
    let hackers: Vec<Address> = hacker_keys.iter().map(|k| address_of(k, MAINNET)).collect();
    let spray_keys: Vec<PublicKey> = (0..9).map(|_| g.key()).collect();
    let spray: Vec<Address> = spray_keys.iter().map(|k| address_of(k, MAINNET)).collect();
    let customer_keys: Vec<PublicKey> = (0..20).map(|_| g.key()).collect();
    let customers: Vec<Address> = customer_keys
        .iter()
        .map(|k| address_of(k, MAINNET))
        .collect();
    let exchange = |i: usize| Address::parse(Chain::Nem, EXCHANGES[i].0).expect("valid");

    // SYNTHETIC history before the theft: the hot wallet's balance and customer traffic;
    // the spray recipients' own funds and their messages to the thief's account.
    let mut t = utc("2018-01-20T00:00:00Z");
    g.transfer(t, &funder, &hot, 560_000_000 * XEM, None);
    for (i, k) in spray_keys.clone().iter().enumerate() {
        t += 600;
        let addr = spray[i].clone();
        g.transfer(t, &funder, &addr, (5_000 + 1_000 * i as u64) * XEM, None);
        t += 60;
        // "recipients had earlier sent messages/XEM to NC4": a message and 1 XEM each.
        g.transfer(t, k, &hackers[0], XEM, Some("give it back"));
    }
    for c in &customers {
        t += 300;
        let x = g.rng.random_range(1_000..50_000) * XEM;
        g.transfer(t, &hot_key, c, x, None);
    }

    // FACT: 11 transfers hot wallet → NC4, 00:02..08:26 JST 26 Jan, 526,300,010 XEM: the
    // bulk in about 8 minutes (5 × 100 M, 20 M, 3 M); the split of the remaining
    // 3,300,010 XEM over 4 transfers is SYNTHETIC.
    let theft: [(&str, u64); 11] = [
        ("2018-01-25T15:02:13Z", 100_000_000),
        ("2018-01-25T15:03:05Z", 100_000_000),
        ("2018-01-25T15:04:20Z", 100_000_000),
        ("2018-01-25T15:05:31Z", 100_000_000),
        ("2018-01-25T15:06:44Z", 100_000_000),
        ("2018-01-25T15:08:02Z", 20_000_000),
        ("2018-01-25T15:09:40Z", 3_000_000),
        ("2018-01-25T16:17:00Z", 1_500_000),
        ("2018-01-25T18:33:00Z", 1_000_000),
        ("2018-01-25T21:05:00Z", 800_000),
        ("2018-01-25T23:26:00Z", 10),
    ];
    debug_assert_eq!(theft.iter().map(|x| x.1).sum::<u64>(), THEFT_TOTAL_XEM);
    for (when, xem) in theft {
        g.transfer(utc(when), &hot_key, &hackers[0], xem * XEM, None);
    }
    // FACT: 10 movements out of NC4, 02:57..03:59 JST. The press says to 9 accounts, yet
    // 10 addresses besides NC4 are published; here each of the 10 gets one movement
    // (SYNTHETIC choice, as are the amounts).
    let mut t = utc("2018-01-25T17:57:00Z");
    let moves: [(usize, u64); 10] = [
        (1, 50_000_000),
        (2, 40_000_000),
        (3, 30_000_000),
        (4, 30_000_000),
        (5, 25_000_000),
        (6, 20_000_000),
        (7, 20_000_000),
        (8, 15_000_000),
        (9, 10_000_000),
        (10, 5_000_000),
    ];
    for (to, xem) in moves {
        g.transfer(t, &hacker_keys[0], &hackers[to], xem * XEM, None);
        t += 360;
    }
    // FACT: 30 Jan about 22:30..23:00 JST, 14 transfers from NC4 totalling 1,100 XEM to 9
    // accounts (11 × 100 XEM, 3 × 0 XEM); which recipient got which is SYNTHETIC.
    let mut t = utc("2018-01-30T13:30:00Z");
    for i in 0..14usize {
        let xem = if i < 11 { 100 } else { 0 };
        let msg = (xem == 0).then_some("coincheck");
        g.transfer(t, &hacker_keys[0], &spray[i % 9], xem * XEM, msg);
        t += 120;
    }
    // Laundering (SYNTHETIC amounts and hops; FACT: more than 24 M stolen XEM reached
    // Zaif by early March): hacker accounts → fresh intermediaries → exchanges.
    let mut t = utc("2018-02-07T00:00:00Z");
    let mids: Vec<PublicKey> = (0..6).map(|_| g.key()).collect();
    let zaif_plan: [(usize, usize, u64); 6] = [
        (1, 0, 9_000_000),
        (2, 1, 6_000_000),
        (3, 2, 5_000_000),
        (4, 3, 4_500_000),
        (5, 4, 3_000_000),
        (6, 5, 2_000_000),
    ];
    for (h, m, xem) in zaif_plan {
        let mid = address_of(&mids[m], MAINNET);
        g.transfer(t, &hacker_keys[h], &mid, xem * XEM, None);
        t += 3_600;
        // Intermediaries pass most on to Zaif in pieces below a round number.
        let first = xem * 6 / 10;
        g.transfer(t, &mids[m], &exchange(0), first * XEM, None);
        t += 1_800;
        g.transfer(t, &mids[m], &exchange(0), (xem - first - 1) * XEM, None);
        t += 7_200;
    }
    // SYNTHETIC: smaller amounts to other exchanges.
    let others: [(usize, usize, u64); 3] = [(7, 2, 800_000), (8, 3, 500_000), (9, 4, 300_000)];
    for (h, ex, xem) in others {
        g.transfer(t, &hacker_keys[h], &exchange(ex), xem * XEM, None);
        t += 5_400;
    }
    // SYNTHETIC: a spray recipient carries on with its own business (it must not be
    // treated as a laundering holder).
    g.transfer(t, &spray_keys[0], &customers[0], 2_000 * XEM, None);

    let mut labels = vec![Label {
        chain: Chain::Nem,
        address: hot.clone(),
        name: format!("Coincheck NEM hot wallet (stand-in for {REAL_HOT_WALLET})"),
        kind: LabelKind::Victim,
        source: "nem-coincheck-2018-facts accounts.csv; stand-in key SYNTHETIC".into(),
        confidence: 90,
    }];
    for (i, a) in hackers.iter().enumerate() {
        labels.push(Label {
            chain: Chain::Nem,
            address: a.clone(),
            name: format!(
                "hacker account {} (stand-in for {})",
                i + 1,
                REAL_HACKERS[i]
            ),
            kind: LabelKind::Suspect,
            source: "nem-coincheck-2018-facts accounts.csv; stand-in key SYNTHETIC".into(),
            confidence: if i == 0 { 90 } else { 60 },
        });
    }
    for (a, name) in EXCHANGES {
        labels.push(Label {
            chain: Chain::Nem,
            address: Address::parse(Chain::Nem, a).expect("valid"),
            name: name.into(),
            kind: LabelKind::Exchange,
            source: "symbol/product explorer known-accounts.json".into(),
            confidence: 80,
        });
    }
    let incident = Incident {
        name: "coincheck-2018".into(),
        chain: Chain::Nem,
        seeds: vec![hot.clone()],
        seed_txs: Vec::new(),
        since: Some(UtcTime::parse(THEFT_START).expect("static time")),
        description: "Coincheck NEM hot wallet theft, 26 Jan 2018 JST (fixture chain: facts plus SYNTHETIC filler)".into(),
        source: "nem-coincheck-2018-facts".into(),
    };
    Fixture {
        blocks: g.blocks,
        hot_wallet: hot,
        hackers,
        spray_recipients: spray,
        labels,
        incident,
    }
}
