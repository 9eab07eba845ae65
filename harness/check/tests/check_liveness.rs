//! The liveness checker: hand-made histories (its real-Redis catches are in contend's tests/catches_liveness.rs).

use contend_check::check::{Timeline, Verdict, liveness};
use contend_check::history::Op;
use contend_check::testkit::{H, ctx};

fn check(h: &[contend_check::history::Event]) -> contend_check::check::CheckResult {
    liveness(&Timeline::new(h), &ctx(false))
}

#[test]
fn prompt_acquires_and_a_prompt_retake_after_a_crash_are_valid() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .crash(1, 10)
        .acquire(2, 5, 1050, None)
        .release(2, 1060, 1061, true)
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}

#[test]
fn an_acquire_longer_than_wait_plus_slack_is_invalid() {
    let h = H::new().acquire(1, 0, 2500, None).done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.findings[0].kind, "acquire-too-long");
}

#[test]
fn a_crashed_holders_lock_not_retaken_within_ttl_and_slack_is_invalid() {
    let h = H::new().acquire(1, 0, 1, None).crash(1, 10).acquire(2, 5, 1900, None).done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.findings.iter().any(|f| f.kind == "not-retaken"), "{r:?}");
}

/// A waiter killed in the queue (worker 3) may be handed the lock when the dead holder's lease
/// ends, up to the dead-waiter window after it died, and the lock then lies with it for a ttl:
/// the retake is late only past that.
#[test]
fn a_waiter_that_died_in_the_queue_extends_the_retake_deadline_by_its_window_and_a_ttl() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .unfinished(3, 2, 499)
        .acquire(2, 5, 2050, None)
        .crash(1, 10)
        .crash(3, 500)
        .done();
    let without = check(&h);
    assert!(without.findings.iter().any(|f| f.kind == "not-retaken"), "{without:?}");
    let window = std::time::Duration::from_millis(1000);
    let r = liveness(&Timeline::new(&h), &ctx(false).with_dead_waiter(window));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    // Worker 3 died only after worker 2's retake was due: it excuses nothing.
    let late = H::new()
        .acquire(1, 0, 1, None)
        .invoke(3, 2, Op::Acquire)
        .acquire(2, 5, 2050, None)
        .crash(1, 10)
        .crash(3, 1200)
        .done();
    let r = liveness(&Timeline::new(&late), &ctx(false).with_dead_waiter(window));
    assert!(r.findings.iter().any(|f| f.kind == "not-retaken"), "{r:?}");
}

#[test]
fn a_worker_that_never_acquires_while_others_do_starves() {
    let h = H::new().acquire(1, 0, 1, None).release(1, 2, 3, true).timeout(2, 0, 2000).done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert!(r.findings.iter().any(|f| f.kind == "starved"), "{r:?}");
    assert!(r.figures["fairness"] < 0.6);
}

#[test]
fn a_worker_stopped_while_it_waited_has_not_starved() {
    // Its only acquire was cut short (the run's end, or a kill): it never got an answer, so it
    // neither won nor gave up.
    let h = H::new().acquire(1, 0, 1, None).release(1, 2, 3, true).unfinished(2, 0, 1500).done();
    let r = check(&h);
    assert!(!r.findings.iter().any(|f| f.kind == "starved"), "{r:?}");
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}

#[test]
fn a_worker_whose_acquires_keep_failing_with_errors_starves() {
    // `info` answers that are not its last (errors, then it gave up): answered, never won.
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 2, 3, true)
        .unfinished(2, 0, 10)
        .unfinished(2, 20, 30)
        .unfinished(2, 40, 50)
        .done();
    let r = check(&h);
    let starved: Vec<_> = r.findings.iter().filter(|f| f.kind == "starved").collect();
    assert_eq!(starved.len(), 1, "{r:?}");
    assert!(starved[0].message.contains("worker 2 tried 3 time(s)"), "{r:?}");
}

#[test]
fn fairness_counts_only_while_every_worker_was_still_trying() {
    // Alternating holders: equal shares. One worker taking every round first: unfair.
    let mut fair = H::new();
    let mut unfair = H::new();
    for i in 0..40 {
        let t = i * 10;
        fair.acquire(1 + u32::try_from(i % 2).expect("small"), t, t + 1, None).release(
            1 + u32::try_from(i % 2).expect("small"),
            t + 2,
            t + 3,
            true,
        );
        unfair.acquire(1, t, t + 1, None).release(1, t + 2, t + 3, true);
    }
    unfair.acquire(2, 0, 405, None).release(2, 406, 407, true);
    let fair = check(&fair.done()).figures["fairness"];
    let unfair = check(&unfair.done()).figures["fairness"];
    assert!(fair > 0.99, "{fair}");
    assert!(unfair < 0.6, "{unfair}");
}

#[test]
fn jain_index_is_one_for_equal_shares_and_one_over_n_for_one_winner() {
    assert!((contend_check::check::jain_index(&[3.0, 3.0, 3.0]) - 1.0).abs() < 1e-9);
    assert!((contend_check::check::jain_index(&[9.0, 0.0, 0.0]) - 1.0 / 3.0).abs() < 1e-9);
}

/// The million-event timing, as a test (run it in release: `cargo test -p contend --release
/// --test check_liveness -- --ignored --nocapture`); it prints, it does not assert a time.
#[test]
#[ignore = "a timing run; use --release"]
fn a_million_events_are_checked_and_the_time_printed() {
    let mut h = H::new();
    for i in 0..(1_000_000 / 6) {
        let w = u32::try_from(i % 20).expect("small");
        let t = i * 10;
        h.acquire(w, t, t + 1, None)
            .section(w, t + 2, t + 5, i64::try_from(i).expect("small"), &[])
            .release(w, t + 6, t + 7, true);
    }
    let events = h.fin(u64::MAX / 2_000_000, 1_000_000 / 6).done();
    let started = std::time::Instant::now();
    let results = contend_check::check::check_all(&events, &ctx(false));
    println!("checked {} events in {:.3} s", events.len(), started.elapsed().as_secs_f64());
    assert!(results.values().all(|r| r.verdict != Verdict::Invalid), "{results:?}");
}

#[test]
fn an_acquire_that_took_exactly_wait_plus_slack_ended_in_time() {
    // wait 2000 ms + slack 100 ms
    assert_eq!(check(&H::new().acquire(1, 0, 2100, None).done()).verdict, Verdict::Valid);
    assert_eq!(check(&H::new().acquire(1, 0, 2101, None).done()).verdict, Verdict::Invalid);
}

#[test]
fn acquire_failures_count_the_acquires_that_failed() {
    let h = H::new()
        .timeout(1, 0, 10)
        .unfinished(1, 20, 30)
        .acquire(1, 40, 41, None)
        .release(1, 42, 43, true)
        .timeout(2, 0, 50)
        .acquire(2, 60, 61, None)
        .done();
    assert_eq!(check(&h).figures["acquire_failures"], 2.0);
}

/// Worker 1 releases at 12 ms; worker 2, waiting since 5 ms, gets the lock at 20 ms (8 ms
/// idle); it releases at 25 ms and worker 3, who only began at 100 ms, gets it at 101 ms (the
/// lock lay free, but no one waited).
#[test]
fn the_idle_figure_counts_a_free_lock_only_while_the_next_holder_waited() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 10, 12, true)
        .acquire(2, 5, 20, None)
        .release(2, 24, 25, true)
        .acquire(3, 100, 101, None)
        .release(3, 102, 103, true)
        .done();
    assert_eq!(check(&h).figures["longest_idle_with_waiter_ms"], 8.0);
}

fn kinds(r: &contend_check::check::CheckResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.kind.as_str()).collect()
}

/// The retake is the first acquisition by another worker after the dead holder's: worker 3's
/// turn before worker 1 took the lock retakes nothing. Worker 1 got the lock at 5 ms (retake due
/// by 5 + ttl 1000 + slack 100 ms) and died at 10 ms; worker 2, waiting since 6 ms, got it at
/// 1900 ms.
#[test]
fn a_not_retaken_finding_names_the_first_retake_after_the_dead_holders_acquisition() {
    let h = H::new()
        .acquire(3, 0, 1, None)
        .release(3, 2, 3, true)
        .acquire(1, 4, 5, None)
        .crash(1, 10)
        .acquire(2, 6, 1900, None)
        .done();
    let r = check(&h);
    assert_eq!(kinds(&r), ["not-retaken"], "{r:?}");
    let f = &r.findings[0];
    assert!(f.message.contains("taken again 1890 ms after the crash"), "{f:?}");
    let retake = h.iter().rposition(|e| e.worker == Some(2)).expect("worker 2's ok");
    assert!(f.events.contains(&retake), "{f:?}");
}

#[test]
fn a_crashed_holders_lock_nobody_waited_for_by_the_deadline_need_not_be_retaken() {
    // Retake due by 1 + 1000 + 100 ms; worker 2 only began to wait at 1500 ms.
    let h = H::new().acquire(1, 0, 1, None).crash(1, 10).acquire(2, 1500, 1501, None).done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}

#[test]
fn a_waiter_that_gave_up_by_the_retake_deadline_did_not_wait_past_it() {
    // Retake due by 1101 ms; worker 2's first acquire timed out at `gave_up`, its next one won.
    let h = |gave_up: u64| {
        H::new()
            .acquire(1, 0, 1, None)
            .crash(1, 10)
            .timeout(2, 5, gave_up)
            .acquire(2, 1200, 1201, None)
            .done()
    };
    let r = check(&h(1101));
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    let r = check(&h(1102));
    assert_eq!(kinds(&r), ["not-retaken"], "{r:?}");
}

/// Worker 1 was paused past its lease (it works until 1400 ms) and killed at 1300 ms; worker 2,
/// waiting since 5 ms, got the lock at 1200 ms: before the crash, but past the acquisition's
/// lease + slack (1101 ms).
#[test]
fn a_late_retake_is_late_even_when_it_came_before_the_crash() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .invoke(1, 2, Op::Section)
        .acquire(2, 5, 1200, None)
        .killed_during(1, 1300, Op::Section)
        .done();
    assert_eq!(kinds(&check(&h)), ["not-retaken"]);
}

#[test]
fn a_worker_killed_after_its_release_completed_held_nothing() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 2, 3, true)
        .crash(1, 10)
        .acquire(2, 5, 1500, None)
        .done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}

#[test]
fn a_holder_that_released_then_died_in_its_next_acquire_may_hold_the_lock_again() {
    let h = H::new()
        .acquire(1, 0, 1, None)
        .release(1, 2, 3, true)
        .invoke(1, 4, Op::Acquire)
        .killed_during(1, 10, Op::Acquire)
        .acquire(2, 5, 1500, None)
        .done();
    assert_eq!(kinds(&check(&h)), ["not-retaken"]);
}

#[test]
fn a_worker_that_died_in_an_acquire_with_no_completion_on_record_may_hold_the_lock() {
    let h = H::new().invoke(1, 0, Op::Acquire).crash(1, 5).acquire(2, 2, 1500, None).done();
    assert_eq!(kinds(&check(&h)), ["not-retaken"]);
}

#[test]
fn a_worker_killed_after_its_acquire_failed_held_nothing() {
    let h = H::new().timeout(1, 0, 100).crash(1, 110).acquire(2, 50, 1500, None).done();
    // (Worker 1 starved: it was answered and never won.)
    assert_eq!(kinds(&check(&h)), ["starved"]);
}

#[test]
fn a_worker_killed_while_idle_after_an_unsure_acquire_was_not_killed_in_it() {
    // The acquire ended `info` at 100 ms (an error) and its worker lived on until 500 ms: the
    // kill struck no acquire, so it asks for no retake.
    let h = H::new().unfinished(1, 0, 100).crash(1, 500).acquire(2, 50, 1700, None).done();
    let r = check(&h);
    assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
}
