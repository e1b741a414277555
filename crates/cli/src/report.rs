//! `ashiato report`: evidence reports and exports of a stored incident, and `ashiato report
//! verify`: checking a report against the store it claims to come from. The rendering is
//! `ashiato_serve::evidence`'s; this is only wiring (docs/reports.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use ashiato_serve::evidence::{self, Evidence, Seal};
use ashiato_serve::index::{sha256_hex, Index, IndexOptions};
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub cmd: Option<ReportCmd>,
    /// The store holding the incident and its chain.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// The stored incident to report on.
    #[arg(long)]
    pub incident: Option<String>,
    /// Taint policy: poison, haircut, fifo, lifo, tiho, dirty-first, clean-first.
    #[arg(long, default_value = "haircut")]
    pub policy: PolicyName,
    /// Report on this exit only: the path from the victim to it, every deposit, the
    /// label's provenance (html and pdf).
    #[arg(long)]
    pub exit: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Write here instead of standard output (required for pdf).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tainted movements carrying less than this (base units) are dust, not followed.
    #[arg(long, default_value_t = 0)]
    pub dust: u128,
    /// Dust-spray rule: at most this much taint onto an address with its own history is
    /// dust (0: off).
    #[arg(long, default_value_t = 0)]
    pub spray_max: u128,
    /// Taint arriving more than this many hops from a seed is cut, not followed.
    #[arg(long)]
    pub max_hops: Option<u32>,
}

#[derive(Subcommand)]
pub enum ReportCmd {
    /// Check a report (HTML, or the seal JSON written beside a PDF) against a store: re-run
    /// the trace with the sealed incident, policy and limits, compare the chain data,
    /// parameters and result. Fails on any mismatch.
    Verify {
        /// The report file.
        file: PathBuf,
        /// The store to check it against.
        #[arg(long)]
        store: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ReportFormat {
    /// Printable, self-contained evidence report with a seal.
    Html,
    /// The HTML report printed to PDF by headless Chromium (the seal goes to OUT.seal.json).
    Pdf,
    /// Every tainted movement, address and exit (one CSV, `kind` column).
    Csv,
    /// Parameters, chain data digest and the whole trace result.
    Json,
    /// Addresses as nodes, tainted movements as edges.
    Graphml,
}

pub fn report(a: ReportArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(ReportCmd::Verify { file, store }) = &a.cmd {
        return verify(file, store, out);
    }
    let Some(store_dir) = &a.store else {
        bail!("--store DIR is required (or: ashiato report verify FILE --store DIR)");
    };
    let Some(incident) = &a.incident else {
        bail!("--incident NAME is required");
    };
    if a.exit.is_some() && !matches!(a.format, ReportFormat::Html | ReportFormat::Pdf) {
        bail!("--exit makes a report (html or pdf); exports cover the whole incident");
    }
    if a.format == ReportFormat::Pdf && a.out.is_none() {
        bail!("--format pdf needs --out FILE.pdf");
    }
    let index = build(
        store_dir,
        incident,
        a.policy,
        a.dust,
        a.spray_max,
        a.max_hops,
    )?;
    let e = Evidence::new(&index, incident, a.policy)
        .with_context(|| format!("incident {incident:?} was not traced under {}", a.policy))?;
    let html = || -> Result<String> {
        match &a.exit {
            None => Ok(evidence::incident_report_html(&e)),
            Some(x) => evidence::exit_report_html(&e, x).with_context(|| {
                let exits: Vec<String> = e
                    .trace
                    .result
                    .exits
                    .iter()
                    .map(|x| format!("{} ({})", x.address, x.label))
                    .collect();
                format!(
                    "{x} is not an exit of incident {incident} under {}; its exits: {}",
                    a.policy,
                    if exits.is_empty() {
                        "none".into()
                    } else {
                        exits.join(", ")
                    }
                )
            }),
        }
    };
    let bytes = match a.format {
        ReportFormat::Html => html()?.into_bytes(),
        ReportFormat::Csv => evidence::export_csv(&e),
        ReportFormat::Json => evidence::export_json(&e),
        ReportFormat::Graphml => evidence::export_graphml(&e),
        ReportFormat::Pdf => {
            let page = html()?;
            let pdf_path = a.out.as_deref().expect("checked above");
            print_pdf(&page, pdf_path)?;
            // The seal beside a PDF names the PDF's own digest as its document.
            let mut seal = evidence::seal_of(&page)?;
            let pdf = std::fs::read(pdf_path)
                .with_context(|| format!("reading {}", pdf_path.display()))?;
            seal.document_sha256 = Some(sha256_hex(&pdf));
            let seal_path = seal_file_of(pdf_path);
            let mut json = serde_json::to_vec_pretty(&seal)?;
            json.push(b'\n');
            std::fs::write(&seal_path, json)
                .with_context(|| format!("writing {}", seal_path.display()))?;
            writeln!(
                out,
                "wrote {} and its seal {} (check with: ashiato report verify {} --store {})",
                pdf_path.display(),
                seal_path.display(),
                seal_path.display(),
                store_dir.display()
            )?;
            return Ok(());
        }
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            writeln!(
                out,
                "wrote {} ({} bytes): incident {incident}, policy {}",
                path.display(),
                bytes.len(),
                a.policy
            )?;
        }
        None => out.write_all(&bytes)?,
    }
    Ok(())
}

/// The index of one incident under one policy, read from the store at `dir`.
fn build(
    dir: &Path,
    incident: &str,
    policy: PolicyName,
    dust: u128,
    spray_max: u128,
    max_hops: Option<u32>,
) -> Result<Index> {
    if !dir.is_dir() {
        bail!("no store at {}", dir.display());
    }
    let store = Store::open(dir).with_context(|| format!("opening the store {}", dir.display()))?;
    let opts = IndexOptions {
        policies: vec![policy],
        dust,
        spray_max,
        max_hops,
        only: vec![incident.to_owned()],
        ..IndexOptions::default()
    };
    Ok(Index::build(&store, &opts)?)
}

/// The document a `.seal.json` file seals (the PDF beside it), if it is there.
fn document_of_seal_file(seal_file: &Path) -> Option<PathBuf> {
    let name = seal_file.to_str()?;
    let doc = PathBuf::from(name.strip_suffix(".seal.json")?);
    doc.is_file().then_some(doc)
}

/// Where the seal of a PDF report goes: beside it, `.seal.json` appended.
pub fn seal_file_of(pdf: &Path) -> PathBuf {
    let mut s = pdf.as_os_str().to_owned();
    s.push(".seal.json");
    PathBuf::from(s)
}

fn verify(file: &Path, store: &Path, out: &mut dyn Write) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let seal: Seal = evidence::seal_of(&text).with_context(|| file.display().to_string())?;
    let mut problems = evidence::check_document(&text)?;
    if let Some(doc) = document_of_seal_file(file) {
        // A PDF's seal: the PDF beside it must be the one it was written with.
        let bytes = std::fs::read(&doc).with_context(|| format!("reading {}", doc.display()))?;
        let got = sha256_hex(&bytes);
        match &seal.document_sha256 {
            Some(want) if *want == got => {}
            Some(want) => problems.push(format!(
                "{} was changed after it was written: it hashes to {got}, the seal says {want}",
                doc.display()
            )),
            None => problems.push("the seal carries no document hash".into()),
        }
    }
    let p = &seal.params;
    let dust: u128 = p
        .dust
        .parse()
        .with_context(|| format!("the seal's dust {:?} is not an amount", p.dust))?;
    let spray_max: u128 = p
        .spray_max
        .parse()
        .with_context(|| format!("the seal's spray_max {:?} is not an amount", p.spray_max))?;
    let index = match build(store, &p.incident, p.policy, dust, spray_max, p.max_hops) {
        Ok(i) => Some(i),
        Err(err) => {
            problems.push(format!("the store cannot regenerate the report: {err:#}"));
            None
        }
    };
    if let Some(index) = &index {
        match Evidence::new(index, &p.incident, p.policy) {
            Some(e) => problems.extend(evidence::check(&seal, &e)),
            None => problems.push(format!(
                "the store has no incident {:?} traced under {}",
                p.incident, p.policy
            )),
        }
    }
    let what = match &seal.exit {
        Some(x) => format!(
            "exit report of {x}, incident {}, policy {}",
            p.incident, p.policy
        ),
        None => format!("incident report of {}, policy {}", p.incident, p.policy),
    };
    if problems.is_empty() {
        writeln!(
            out,
            "report matches the store: {what}, generated {} by {}; data sha256 {}, params sha256 {}, result sha256 {}",
            seal.generated, seal.tool, seal.data_sha256, seal.params_sha256, seal.result_sha256
        )?;
        return Ok(());
    }
    writeln!(out, "report does NOT match the store ({what}):")?;
    for p in &problems {
        writeln!(out, "- {p}")?;
    }
    bail!(
        "{} does not match the store {}: {} mismatch(es): {}",
        file.display(),
        store.display(),
        problems.len(),
        problems.join("; ")
    )
}

/// Headless Chromium, if this machine has it.
fn chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Prints `html` to a PDF at `out` with headless Chromium in a fresh profile.
fn print_pdf(html: &str, out: &Path) -> Result<()> {
    let Some(browser) = chromium() else {
        bail!(
            "PDF output needs Chromium (chromium on PATH or /usr/bin/chromium), which this machine lacks; \
             write --format html instead: the HTML report prints to PDF from any browser"
        );
    };
    let tmp = tempfile::tempdir().context("making a temporary directory")?;
    let page = tmp.path().join("report.html");
    std::fs::write(&page, html).context("writing the temporary HTML")?;
    let profile = tmp.path().join("profile");
    let out_abs = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir()?.join(out)
    };
    let _ = std::fs::remove_file(&out_abs);
    let result = Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", out_abs.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .with_context(|| format!("running {}", browser.display()))?;
    let ok = std::fs::metadata(&out_abs).is_ok_and(|m| m.len() > 0);
    if !result.status.success() || !ok {
        bail!(
            "{} did not print the PDF ({}): {}",
            browser.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    Ok(())
}
