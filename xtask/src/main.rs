//! `cargo xtask`: this app's project commands (the `cargo xtask` convention: a plain binary in
//! the workspace, run through the alias in `.cargo/config.toml`).
//!
//! ```text
//! cargo xtask new-page NAME              a page at /NAME, live in the nav
//! cargo xtask new-page NAME --endpoint   … and its WebSocket endpoint on the dev server
//! ```
//!
//! Decision: an xtask, not a second `cargo generate` run. `cargo generate` can only add files; a
//! page must also be registered in files that already exist (`src/pages.rs`, `Cargo.toml`,
//! `src/config.rs`, `pages/src/lib.rs`, `server/src/lib.rs`), and an xtask is plain Rust the
//! team can read, test and change, with nothing to install. The new files are filled in from
//! `xtask/blueprints/`.
//!
//! What `new-page` writes is listed when it runs; every edit of an existing file inserts lines at
//! a marker comment (`// xtask: …`) or after the last line of its kind, then `cargo fmt` tidies.

mod edit;
mod names;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use names::Names;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("new-page") => new_page(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask new-page NAME [--endpoint]

  NAME        lower-case words joined by '-', e.g. poll or team-board: the page's URL (/NAME),
              its cargo feature and its module (pages/src/NAME.rs)
  --endpoint  also add its WebSocket endpoint /ws/NAME to the dev server (server/), with an
              integration test and a section in docs/protocol.md";

fn new_page(args: &[String]) -> Result<(), String> {
    let mut name = None;
    let mut endpoint = false;
    for arg in args {
        match arg.as_str() {
            "--endpoint" => endpoint = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            value if name.is_none() => name = Some(value.to_owned()),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    let name = name.ok_or("new-page needs a NAME, e.g. `cargo xtask new-page poll`")?;
    let names = Names::new(&name)?;
    let root = workspace_root()?;
    let plan = edit::plan(&root, &names, endpoint)?;
    for change in &plan {
        change.apply()?;
    }
    let fmt = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fmt", "--all"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("could not run cargo fmt: {e}"))?;
    if !fmt.success() {
        return Err("cargo fmt failed on the generated code".into());
    }
    println!("Added the page `{}` at {}:", names.title, names.path);
    for change in &plan {
        println!("  {}", change.describe(&root));
    }
    println!(
        "\nIt is in the nav now (trunk serve rebuilds by itself). Next: shape its messages in \
         pages/src/{}.rs{}.",
        names.snake,
        if endpoint {
            format!(
                " and server/src/{}.rs; docs/protocol.md has its section",
                names.snake
            )
        } else {
            " and point its endpoint in src/config.rs at your backend".to_owned()
        }
    );
    Ok(())
}

/// The app's root: the directory of the workspace `Cargo.toml` above this crate.
fn workspace_root() -> Result<PathBuf, String> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .filter(|root| root.join("src/pages.rs").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("no src/pages.rs above {}: is this the app?", here.display()))
}
