//! The generated "choosing an algorithm" of `contend bench`, on a synthetic bench result (no
//! Redis): which lock it names for which need and with which figures, and how it replaces the
//! text between a document's markers (refusing a document without them, or a broken run).

mod support;

use std::collections::BTreeMap;

use contend::bench::choosing::{BEGIN, END, replace_between_markers, section};
use contend::bench::figures::{HistoryFigures, LatencyUs};
use contend::bench::{Baselines, BenchReport, Cell, CellRound, Machine};

/// One round of a cell: sections/s, acquire p50/p99 µs, fairness, barging, commands sent and
/// run, server CPU µs per acquisition.
#[allow(clippy::too_many_arguments)]
fn round(
    rate: f64,
    p50: f64,
    p99: f64,
    fairness: f64,
    barging: f64,
    sent: f64,
    run: f64,
    cpu: f64,
) -> CellRound {
    let lat = |p50, p99| LatencyUs { n: 100, p50, p99, max: p99 * 2.0 };
    CellRound {
        valid: true,
        sections: 100,
        sections_per_s: rate,
        history: HistoryFigures {
            acquire_us: lat(p50, p99),
            release_us: lat(20.0, 40.0),
            handoff_us: lat(80.0, 300.0),
            fairness: Some(fairness),
            barging: Some(barging),
        },
        commands_sent_per_acquisition: Some(sent),
        commands_incl_scripts_per_acquisition: Some(run),
        client_cpu_us_per_acquisition: 100.0,
        server_cpu_us_per_acquisition: Some(cpu),
        ..CellRound::default()
    }
}

fn cell(algorithm: &str, workers: u32, r: CellRound) -> Cell {
    Cell { algorithm: algorithm.into(), workers, hold_ms: 0, rounds: vec![r] }
}

/// token: fewest commands, fastest at 8 workers, unfair; notify: fair, more commands; fenced:
/// token's figures plus fences.
fn report() -> BenchReport {
    let by = |m: &[(u32, f64)]| m.iter().copied().collect::<BTreeMap<u32, f64>>();
    BenchReport {
        started_utc: "20261202-120000.000".into(),
        machine: Machine {
            nproc: 2,
            kernel: "6.1".into(),
            redis_version: "7.0.15".into(),
            git_revision: Some("0123456789abcdef".into()),
        },
        algorithms: ["token", "notify", "fenced"].map(String::from).to_vec(),
        workers: vec![1, 8],
        holds_ms: vec![0],
        rounds: 1,
        sections_per_cell: 100,
        baselines: vec![Baselines {
            ping_us: 50.0,
            ping_placement: "cross-core".into(),
            raw_lock_pair_us: LatencyUs { n: 500, p50: 40.0, p99: 80.0, max: 100.0 },
            chain_hop_us: by(&[(1, 40.0), (8, 60.0)]),
            chain_body_turns_per_s: by(&[(1, 5000.0), (8, 4000.0)]),
            body_alone_per_s: by(&[(1, 25000.0), (8, 9000.0)]),
            ..Baselines::default()
        }],
        cells: vec![
            cell("token", 1, round(2500.0, 60.0, 200.0, 1.0, 0.0, 2.0, 4.0, 40.0)),
            cell("notify", 1, round(2400.0, 64.0, 200.0, 1.0, 0.0, 2.0, 6.0, 50.0)),
            cell("fenced", 1, round(2300.0, 70.0, 220.0, 1.0, 0.0, 2.0, 6.0, 45.0)),
            cell("token", 8, round(3000.0, 60.0, 90000.0, 0.2, 0.95, 2.2, 4.2, 60.0)),
            cell("notify", 8, round(2000.0, 2000.0, 4000.0, 0.998, 0.01, 3.0, 16.0, 140.0)),
            cell("fenced", 8, round(2900.0, 61.0, 80000.0, 0.25, 0.9, 2.2, 6.5, 70.0)),
        ],
        fenced: vec!["fenced".into()],
    }
}

#[test]
fn the_generated_section_names_a_lock_per_need_with_the_runs_figures() {
    let text = section(&report(), "plot.svg", Some("bench.html"));
    for row in [
        "| every waiter served in turn, bounded waiting | **notify** | fairness 0.998, barging 1 %, acquire p99 2× its p50 at 2+ workers (fairness 1 is even) (token: fairness 0.2, barging 95 %, acquire p99 1500× its p50; fenced: fairness 0.25, barging 90 %, acquire p99 1311× its p50) |",
        "| fewest commands and least server CPU | **token** | 2.2 commands sent and 4.2 run by the server per acquisition at 2+ workers, server CPU 60 µs per acquisition (notify: 16 run, server CPU 140 µs; fenced: 6.5 run, server CPU 70 µs) |",
        "| a resource that can check a fence (a holder past its lease cannot write) | **fenced** |",
        "| throughput with 8 workers, hold 0 ms | **token** | 3000 sections/s, 0.75× the bare chain with the body; ahead of the next by 3 % in one round (no spread measured) |",
        "| one client at a time, short sections | **token** | uncontended acquire + release p50 2× the raw SET NX PX + release-script pair (notify 2.1×, fenced 2.25×); ahead of the next by 5 % in one round (no spread measured) |",
    ] {
        assert!(text.contains(row), "missing row {row}\nin:\n{text}");
    }
    assert!(text.contains("![Throughput against workers, every algorithm](plot.svg)"), "{text}");
    assert!(text.contains("[bench.html](bench.html)"), "{text}");
    assert!(text.contains("revision `0123456`"), "{text}");
    assert!(text.contains("6 of 6 cell-rounds with every checker satisfied"), "{text}");
    assert!(
        text.contains(
            "Reproduce: `contend bench -a token -a notify -a fenced --workers 1,8 --hold 0 --rounds 1 --sections 100`"
        ),
        "{text}"
    );
    assert!(!text.contains("\n#"), "the text brings no heading of its own: {text}");
}

#[test]
fn a_lead_within_the_rounds_spread_names_no_winner() {
    let mut r = report();
    r.rounds = 2;
    for c in &mut r.cells {
        c.rounds.push(c.rounds[0].clone());
    }
    // token at 8 workers: 3000 then 1500 sections/s (median 2250), fenced 2200 twice: token
    // leads by 2 %, while its own rounds moved by 67 %.
    r.cells[3].rounds[1].sections_per_s = 1500.0;
    r.cells[5].rounds[0].sections_per_s = 2200.0;
    r.cells[5].rounds[1].sections_per_s = 2200.0;
    let text = section(&r, "plot.svg", None);
    let row = "| throughput with 8 workers, hold 0 ms | any | 2250 sections/s, 0.56× the bare chain \
               with the body; ahead of the next by 2 %, the rounds moved by up to 67 % |";
    assert!(text.contains(row), "missing {row}\nin:\n{text}");
    // Uncontended, nothing moved between the rounds: token is named, with the spread (0 %).
    assert!(text.contains("| one client at a time, short sections | **token** |"), "{text}");
    assert!(text.contains("ahead of the next by 5 %, the rounds moved by up to 0 %"), "{text}");
}

#[test]
fn without_a_fenced_algorithm_the_fence_row_says_how_to_bench_one() {
    let mut r = report();
    r.fenced.clear();
    let text = section(&r, "plot.svg", None);
    assert!(text.contains("| a resource that can check a fence | – | no algorithm of this run"));
    assert!(!text.contains("[bench.html]"), "no page to link: {text}");
}

#[test]
fn the_markers_text_is_replaced_and_everything_else_kept() {
    let doc = format!("# Doc\n\n## Choosing an algorithm\n\n{BEGIN}\nold text\n{END}\n\nAfter.\n");
    let once = replace_between_markers(&doc, "new text\n").expect("replaced");
    assert_eq!(
        once,
        format!("# Doc\n\n## Choosing an algorithm\n\n{BEGIN}\nnew text\n{END}\n\nAfter.\n")
    );
    assert_eq!(replace_between_markers(&once, "new text").expect("again"), once, "idempotent");
}

#[test]
fn a_document_without_both_markers_is_refused_with_what_to_add() {
    let e = replace_between_markers("# Doc\n\n## Choosing an algorithm\n\ntext\n", "x")
        .expect_err("no markers");
    let msg = e.to_string();
    assert!(msg.contains(BEGIN) && msg.contains(END) && msg.contains("found 0 and 0"), "{msg}");
    let twice = format!("{BEGIN}\n{END}\n{BEGIN}\n{END}\n");
    assert!(replace_between_markers(&twice, "x").is_err(), "two sections are ambiguous");
    let reversed = format!("{END}\nold\n{BEGIN}\n");
    let msg = replace_between_markers(&reversed, "x").expect_err("reversed").to_string();
    assert!(msg.contains("comes before"), "{msg}");
}

/// `contend bench --from JSON --update-docs DOC`.
fn update(json: &std::path::Path, doc: &std::path::Path) -> std::process::Output {
    let mut cmd = support::contend();
    cmd.args(["bench", "--from"]).arg(json).arg("--update-docs").arg(doc);
    cmd.output().expect("contend bench --from")
}

#[test]
fn update_docs_rewrites_the_section_from_a_bench_json_and_refuses_a_file_without_markers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    std::fs::write(&json, serde_json::to_string(&report()).expect("json")).expect("write json");
    let doc = dir.path().join("bench.md");
    std::fs::write(&doc, format!("## Choosing an algorithm\n\n{BEGIN}\nold\n{END}\n"))
        .expect("write doc");
    let o = update(&json, &doc);
    assert!(o.status.success(), "{}", support::text(&o));
    let text = std::fs::read_to_string(&doc).expect("doc");
    assert!(text.starts_with("## Choosing an algorithm\n\n"), "{text}");
    assert!(text.contains("| fewest commands and least server CPU | **token** |"), "{text}");
    assert!(text.contains("(bench-choosing.svg)") && !text.contains("\nold\n"), "{text}");
    let svg = std::fs::read_to_string(dir.path().join("bench-choosing.svg")).expect("the plot");
    assert!(svg.contains("<svg") && svg.contains("notify"), "the throughput plot");

    let bare = dir.path().join("bare.md");
    std::fs::write(&bare, "## Choosing an algorithm\n\nby hand\n").expect("write bare");
    let o = update(&json, &bare);
    assert!(!o.status.success(), "a file without markers must be refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bare.md") && err.contains(BEGIN), "{err}");
    assert_eq!(
        std::fs::read_to_string(&bare).expect("bare"),
        "## Choosing an algorithm\n\nby hand\n"
    );
}

#[test]
fn a_run_whose_lock_broke_updates_no_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = dir.path().join("bench.md");
    let before = format!("{BEGIN}\nold\n{END}\n");
    std::fs::write(&doc, &before).expect("write doc");
    let mut r = report();
    r.cells[4].rounds[0].valid = false;
    let e = contend::bench::choosing::update_docs(&r, &doc).expect_err("broken run");
    assert!(e.to_string().contains("lock broke in 1 cell"), "{e}");
    assert_eq!(std::fs::read_to_string(&doc).expect("doc"), before);
}

#[test]
fn a_readme_beside_a_docs_folder_gets_its_plot_in_docs() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("docs")).expect("docs");
    let doc = dir.path().join("README.md");
    std::fs::write(&doc, format!("{BEGIN}\nold\n{END}\n")).expect("write doc");
    contend::bench::choosing::update_docs(&report(), &doc).expect("updated");
    let text = std::fs::read_to_string(&doc).expect("doc");
    assert!(text.contains("(docs/bench-choosing.svg)"), "{text}");
    assert!(dir.path().join("docs/bench-choosing.svg").is_file(), "the plot in docs/");
    assert!(!dir.path().join("bench-choosing.svg").exists(), "no plot beside the README");
}

#[test]
fn the_readme_and_docs_bench_md_carry_the_same_generated_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let generated = |name: &str| {
        let text = std::fs::read_to_string(root.join(name)).expect(name);
        let (_, rest) = text.split_once(BEGIN).expect("begin marker");
        let (section, _) = rest.split_once(END).expect("end marker");
        // The one difference: where the plot is, seen from each document.
        section.replace("(docs/bench-choosing.svg)", "(bench-choosing.svg)")
    };
    assert_eq!(
        generated("README.md"),
        generated("docs/bench.md"),
        "regenerate both from one bench.json"
    );
}
