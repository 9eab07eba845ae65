//! Headless Chromium for the page tests: the DOM of a page after its scripts ran.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browser: `$CHROMIUM`, else `chromium` or `chromium-browser` on PATH; panics naming the
/// install command when there is none.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")]);
    let chosen = match std::env::var_os("CHROMIUM") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => on_path.into_iter().find(|p| p.is_file()),
    };
    chosen.unwrap_or_else(|| {
        panic!(
            "headless Chromium is needed to check the HTML pages and was not found (CHROMIUM, \
             or chromium on PATH): install it with `apt-get install chromium`"
        )
    })
}

/// The DOM of `page` after its scripts ran (`--dump-dom`); the browser runs in its own process
/// group, killed whole if it takes more than 120 s.
pub fn dump_dom(page: &Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = tempfile::NamedTempFile::new().expect("dom file");
    let mut child = Command::new(chromium())
        .args(["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(out.reopen().expect("dom file"))
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let group = i32::try_from(child.id()).expect("pid");
            // SAFETY: kill(2) on the process group of a child we started and have not reaped.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium did not finish with {} within 120 s", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = std::fs::read_to_string(out.path()).expect("read dom");
    assert!(
        status.success() && !dom.is_empty(),
        "chromium failed ({status}) on {}",
        page.display()
    );
    dom
}
