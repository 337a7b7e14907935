//! The `berth-image` command line: parses, runs one operation, prints its result, and
//! logs an error once, here at the top.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::manifest::Platform;
use crate::progress::Progress;
use crate::reference::Reference;
use crate::registry::{self, Credentials};
use crate::store::Store;
use crate::{bundle, commit, layout, manifest, pull, push, reference, store};

#[derive(Parser, Debug)]
#[command(name = "berth-image", version, about = "berth's image helper: pull images from registries and make bundles berth runs")]
pub struct Cli {
    /// Where images are kept (default: /var/lib/berth-image for root, $XDG_DATA_HOME/berth-image otherwise)
    #[arg(long, global = true)]
    pub store: Option<PathBuf>,
    /// Registry credentials
    #[arg(long, global = true, value_name = "USER:PASS")]
    pub creds: Option<String>,
    /// A folder of CA certificates (*.crt) and client certificates (*.cert, *.key)
    #[arg(long = "cert-dir", global = true)]
    pub cert_dir: Option<PathBuf>,
    /// Talk to the registry over plain HTTP (never done unless asked)
    #[arg(long = "plain-http", global = true)]
    pub plain_http: bool,
    /// No progress display
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Pull an image into the store; prints its digest
    Pull {
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        reference: String,
    },
    /// Make a bundle (DIR/rootfs, DIR/config.json) of an image, pulling it if needed
    Bundle {
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// process.terminal in config.json
        #[arg(long)]
        tty: bool,
        /// A plain directory instead of a snapshot (an overlay of the store's layers)
        #[arg(long)]
        copy: bool,
        reference: String,
        dir: PathBuf,
        /// Replaces the image's Cmd
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Unmount and remove a bundle
    Unbundle { dir: PathBuf },
    /// List the stored images
    Images {
        /// table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// An image's digests, platform, layers and config, as JSON
    Inspect { reference: String },
    /// Remove an image from the store (its blobs go with the next prune)
    Rm { reference: String },
    /// Remove blobs and unpacked layers no image or bundle uses
    Prune,
    /// Commit a bundle's changes as a new image (one new layer on its image)
    Commit {
        /// A Dockerfile instruction to apply: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL
        #[arg(long = "change", short = 'c')]
        change: Vec<String>,
        /// A comment in the image's history
        #[arg(long, short = 'm')]
        message: Option<String>,
        /// Freeze containers running on the bundle during the commit (else refused)
        #[arg(long)]
        pause: bool,
        /// berth's --root, to find containers running on the bundle
        #[arg(long = "berth-root", default_value = "/run/berth")]
        berth_root: PathBuf,
        dir: PathBuf,
        reference: String,
    },
    /// Push a stored image to a registry (to DEST if given)
    Push {
        /// Upload blobs in PATCH chunks of this many bytes (default: one PUT each)
        #[arg(long = "chunk-size")]
        chunk_size: Option<u64>,
        reference: String,
        dest: Option<String>,
    },
    /// Give a stored image another reference
    Tag { source: String, dest: String },
    /// Write a stored image to FILE as an OCI layout archive
    Save { reference: String, file: PathBuf },
    /// Load the images of an OCI layout archive into the store
    Load { file: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] reference::Error),
    #[error(transparent)]
    Registry(#[from] registry::Error),
    #[error(transparent)]
    Manifest(#[from] manifest::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Pull(#[from] pull::Error),
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    #[error(transparent)]
    Commit(#[from] commit::Error),
    #[error(transparent)]
    Push(#[from] push::Error),
    #[error(transparent)]
    Layout(#[from] layout::Error),
    #[error("{0}")]
    Usage(String),
}

fn log_error(format: &str, msg: &str) {
    if format == "json" {
        let line = serde_json::json!({"level": "error", "msg": msg, "time": berth::util::time::now_rfc3339_nano()});
        eprintln!("{line}");
    } else {
        eprintln!("berth-image: error: {msg}");
    }
}

fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) { 0 } else { 2 };
            let _ = e.print();
            return code;
        }
    };
    let format = cli.log_format.clone();
    if format != "text" && format != "json" {
        log_error("text", &format!("unknown log-format {format:?}: use text or json"));
        return 2;
    }
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&format, &e.to_string());
            1
        }
    }
}

fn in_userns() -> bool {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    !root || std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

fn platform(p: &Option<String>) -> Result<Platform, Error> {
    Ok(match p {
        Some(s) => Platform::parse(s)?,
        None => Platform::host(),
    })
}

fn run(cli: Cli) -> Result<(), Error> {
    let root = cli.store.clone().unwrap_or_else(store::default_root);
    let store = Store::open(&root)?;
    let creds = cli.creds.as_deref().map(Credentials::parse).transpose()?;
    let ropts = registry::Options { plain_http: cli.plain_http, cert_dir: cli.cert_dir.clone(), creds };
    let progress = Progress::new(!cli.quiet && std::io::stdout().is_terminal());
    let userns = in_userns();
    match &cli.command {
        Cmd::Pull { platform: p, reference } => {
            let r = Reference::parse(reference)?;
            let plat = platform(p)?;
            let _lock = store.shared()?;
            let req = pull::Request { reference: &r, platform: &plat, registry: &ropts, progress: &progress, unpack: true, in_userns: userns };
            let img = pull::pull(&store, &req)?;
            print(&format!("{}\n", img.digest));
        }
        Cmd::Bundle { platform: p, tty, copy, reference, dir, args } => {
            let r = Reference::parse(reference)?;
            let plat = platform(p)?;
            let _lock = store.shared()?;
            let stored = store.load_image(&r.to_string()).ok().filter(|i| p.is_none() || i.platform == plat.to_string());
            // A stored image needs no registry: its layers are unpacked from its blobs
            // if they are not yet (a loaded or committed image, a --copy pull).
            let ready = stored.filter(|i| i.layers.iter().all(|l| store.has_blob(&l.digest) || store.has_layer(&l.diff_id)));
            let img = match ready {
                Some(i) => {
                    if !*copy {
                        pull::ensure_unpacked(&store, &i.layers, userns)?;
                    }
                    i
                }
                None => {
                    let req = pull::Request { reference: &r, platform: &plat, registry: &ropts, progress: &progress, unpack: !*copy, in_userns: userns };
                    pull::pull(&store, &req)?
                }
            };
            let o = bundle::Options { tty: *tty, args: (!args.is_empty()).then(|| args.clone()), copy: *copy, in_userns: userns };
            bundle::make(&store, &img, dir, &o)?;
        }
        Cmd::Unbundle { dir } => {
            let _lock = store.shared()?;
            let d = std::fs::canonicalize(dir).map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
            bundle::unmake(&store, &d)?;
        }
        Cmd::Images { format } => images(&store, format)?,
        Cmd::Inspect { reference } => {
            let r = Reference::parse(reference)?;
            let img = store.load_image(&r.to_string())?;
            let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.config, 8 << 20)?).unwrap_or_default();
            let size: u64 = img.layers.iter().map(|l| l.size).sum();
            let v = serde_json::json!({
                "reference": img.reference,
                "digest": img.digest,
                "indexDigest": img.index_digest,
                "mediaType": img.media_type,
                "platform": img.platform,
                "size": size,
                "pulled": img.pulled,
                "configDigest": img.config,
                "layers": img.layers,
                "config": config,
            });
            print(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
        }
        Cmd::Rm { reference } => {
            let r = Reference::parse(reference)?;
            let _lock = store.exclusive()?;
            store.remove_image(&r.to_string())?;
        }
        Cmd::Commit { change, message, pause, berth_root, dir, reference } => {
            let dest = Reference::parse(reference)?;
            let _lock = store.shared()?;
            let o = commit::Options { changes: change.clone(), message: message.clone(), pause: *pause, berth_root: berth_root.clone(), in_userns: userns };
            let img = commit::commit(&store, dir, &dest, &o)?;
            print(&format!("{}\n", img.digest));
        }
        Cmd::Push { chunk_size, reference, dest } => {
            let r = Reference::parse(reference)?;
            let d = match dest {
                Some(d) => Reference::parse(d)?,
                None => r.clone(),
            };
            let _lock = store.shared()?;
            let img = store.load_image(&r.to_string())?;
            let rep = push::push(&store, &img, &d, &ropts, *chunk_size, &progress)?;
            if !cli.quiet {
                eprintln!("blobs: {} uploaded, {} mounted from {}, {} already there", rep.uploaded, rep.mounted, img.reference, rep.skipped);
            }
            print(&format!("{}\n", img.digest));
        }
        Cmd::Tag { source, dest } => {
            let s = Reference::parse(source)?;
            let d = Reference::parse(dest)?;
            let _lock = store.shared()?;
            let mut img = store.load_image(&s.to_string())?;
            img.reference = d.to_string();
            store.save_image(&img)?;
        }
        Cmd::Save { reference, file } => {
            let r = Reference::parse(reference)?;
            let _lock = store.shared()?;
            let img = store.load_image(&r.to_string())?;
            layout::save(&store, &img, file)?;
        }
        Cmd::Load { file } => {
            let _lock = store.shared()?;
            for r in layout::load(&store, file)? {
                print(&format!("{r}\n"));
            }
        }
        Cmd::Prune => {
            let _lock = store.exclusive()?;
            let (blobs, layers) = store.prune()?;
            if !cli.quiet {
                print(&format!("removed {blobs} blobs and {layers} unpacked layers\n"));
            }
        }
    }
    Ok(())
}

fn human(n: u64) -> String {
    let (v, u) = match n {
        n if n >= 1 << 30 => (n as f64 / (1u64 << 30) as f64, "GB"),
        n if n >= 1 << 20 => (n as f64 / (1u64 << 20) as f64, "MB"),
        n if n >= 1 << 10 => (n as f64 / 1024.0, "kB"),
        n => (n as f64, "B"),
    };
    if u == "B" {
        format!("{n}B")
    } else {
        format!("{v:.1}{u}")
    }
}

fn images(store: &Store, format: &str) -> Result<(), Error> {
    let imgs = store.images()?;
    match format {
        "json" => {
            let v: Vec<serde_json::Value> = imgs
                .iter()
                .map(|i| serde_json::json!({"reference": i.reference, "digest": i.digest, "platform": i.platform, "size": i.layers.iter().map(|l| l.size).sum::<u64>(), "pulled": i.pulled}))
                .collect();
            print(&format!("{}\n", serde_json::Value::Array(v)));
        }
        "table" => {
            let mut rows = vec![vec!["REFERENCE".to_string(), "DIGEST".into(), "PLATFORM".into(), "SIZE".into(), "PULLED".into()]];
            for i in &imgs {
                rows.push(vec![i.reference.clone(), i.digest.as_str()[..19].to_string(), i.platform.clone(), human(i.layers.iter().map(|l| l.size).sum()), i.pulled.chars().take(19).collect()]);
            }
            let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
            let mut out = String::new();
            for r in rows {
                for (c, cell) in r.iter().enumerate() {
                    out.push_str(cell);
                    if c < 4 {
                        out.push_str(&" ".repeat(widths[c] - cell.len() + 3));
                    }
                }
                out.push('\n');
            }
            print(&out);
        }
        other => return Err(Error::Usage(format!("invalid --format {other:?}: table or json"))),
    }
    Ok(())
}
