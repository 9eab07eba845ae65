//! The adapter manifest: a small TOML file that says how to start an adapter and what it does.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use super::proto::Supports;

/// A parsed manifest, its paths made absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The name scenarios' `[expect.NAME]` tables and `contend list` use.
    pub name: String,
    /// One line for `contend list`.
    pub summary: String,
    /// The program and its arguments; a relative program path with a `/` is taken from `workdir`.
    pub command: Vec<String>,
    /// Where the adapter runs (default: the manifest's folder).
    pub workdir: PathBuf,
    /// What the adapter supports; the handshake must say the same.
    pub supports: Supports,
    /// What to run when the command cannot start (e.g. `just adapters`), for the error message.
    pub setup: Option<String>,
    /// The longest an adapter may take to start and answer `hello`, ms.
    pub start_timeout_ms: u64,
    /// The longest one call may take, ms (default: computed from the scenario, see
    /// [`Manifest::call_timeout_ms`]).
    pub call_timeout_ms: Option<u64>,
    /// The manifest file.
    pub path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: String,
    #[serde(default)]
    summary: Option<String>,
    command: Vec<String>,
    #[serde(default)]
    workdir: Option<PathBuf>,
    #[serde(default)]
    supports: Supports,
    #[serde(default)]
    setup: Option<String>,
    #[serde(default)]
    start_timeout_ms: Option<u64>,
    #[serde(default)]
    call_timeout_ms: Option<u64>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the adapter manifest {}", path.display()))?;
        let path = std::path::absolute(path)
            .with_context(|| format!("cannot make {} absolute", path.display()))?;
        Manifest::parse(&text, &path)
    }

    /// Parses manifest text that lives at `path` (absolute).
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Manifest> {
        let raw: Raw = toml::from_str(text)
            .with_context(|| format!("{}: not an adapter manifest", path.display()))?;
        let here = path.parent().unwrap_or(Path::new("/"));
        let bad = |what: &str| anyhow::anyhow!("{}: {what}", path.display());
        let name_ok = !raw.name.is_empty()
            && raw.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(bad("`name` must be letters, digits, `-` or `_`"));
        }
        if raw.command.is_empty() || raw.command[0].is_empty() {
            return Err(bad("`command` must name a program: command = [\"python3\", \"x.py\"]"));
        }
        let workdir = here.join(raw.workdir.unwrap_or_else(|| PathBuf::from(".")));
        Ok(Manifest {
            summary: raw.summary.unwrap_or_else(|| format!("adapter `{}`", raw.name)),
            name: raw.name,
            command: raw.command,
            workdir,
            supports: raw.supports,
            setup: raw.setup,
            start_timeout_ms: raw.start_timeout_ms.unwrap_or(10_000),
            call_timeout_ms: raw.call_timeout_ms,
            path: path.to_path_buf(),
        })
    }

    /// The program to start: a relative path with a `/` is taken from `workdir`.
    #[must_use]
    pub fn program(&self) -> PathBuf {
        let p = Path::new(&self.command[0]);
        if p.is_relative() && self.command[0].contains('/') {
            self.workdir.join(p)
        } else {
            p.to_path_buf()
        }
    }

    /// The longest one call may take in a run with `ttl_ms`, `wait_ms`, and holders paused for
    /// `paused_ms` in all (a paused worker's adapter is paused too, mid-call perhaps): well above
    /// what a lock that keeps its promises needs, so a slow lock is never mistaken for a hung one.
    #[must_use]
    pub fn call_timeout_ms(&self, ttl_ms: u64, wait_ms: u64, paused_ms: u64) -> u64 {
        let floor = ttl_ms.saturating_add(wait_ms).saturating_add(1000).saturating_add(paused_ms);
        self.call_timeout_ms
            .unwrap_or_else(|| {
                ttl_ms.saturating_add(wait_ms).saturating_mul(2).saturating_add(10_000)
            })
            .saturating_add(paused_ms)
            .max(floor)
    }

    /// How the manifest is named on a command line: `adapter:PATH`.
    #[must_use]
    pub fn locator(&self) -> String {
        format!("adapter:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_resolves_its_paths_from_its_folder() {
        let m = Manifest::parse(
            "name = \"py\"\ncommand = [\".venv/bin/python\", \"a.py\"]\n[supports]\nextend = true\n",
            Path::new("/x/adapters/py.toml"),
        )
        .unwrap();
        assert_eq!(m.workdir, Path::new("/x/adapters/."));
        assert_eq!(m.program(), Path::new("/x/adapters/./.venv/bin/python"));
        assert!(m.supports.extend && !m.supports.fencing);
        let bare = Manifest::parse("name = \"b\"\ncommand = [\"python3\"]", Path::new("/a/b.toml"));
        assert_eq!(bare.unwrap().program(), Path::new("python3"));
    }

    #[test]
    fn a_bad_manifest_says_what_is_wrong() {
        let e = Manifest::parse("name = \"a b\"\ncommand = [\"x\"]", Path::new("/m.toml"));
        assert!(format!("{:#}", e.unwrap_err()).contains("`name`"));
        let e = Manifest::parse("name = \"a\"\ncommand = []", Path::new("/m.toml"));
        assert!(format!("{:#}", e.unwrap_err()).contains("`command`"));
        let e = Manifest::parse("name = \"a\"\ncommand = [\"x\"]\ncolor = 1", Path::new("/m.toml"));
        assert!(format!("{:#}", e.unwrap_err()).contains("color"));
    }

    #[test]
    fn the_call_timeout_stays_well_above_ttl_plus_wait() {
        let m = Manifest::parse("name = \"a\"\ncommand = [\"x\"]", Path::new("/m.toml")).unwrap();
        assert_eq!(m.call_timeout_ms(1000, 2000, 0), 16_000);
        assert_eq!(m.call_timeout_ms(1000, 2000, 1500), 17_500);
        let low = Manifest { call_timeout_ms: Some(10), ..m };
        assert_eq!(low.call_timeout_ms(1000, 2000, 0), 4000);
    }
}
