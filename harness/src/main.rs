//! `contend`: the contention harness (see the harness issue). This is a placeholder binary.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("contend: the harness is not built yet")
}
