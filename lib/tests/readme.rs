//! The README's example is `examples/quickstart.rs`, word for word, and it works.

mod support;

#[path = "../examples/quickstart.rs"]
#[allow(dead_code)]
mod quickstart;

#[test]
fn the_readme_shows_the_quickstart_example_verbatim() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let body = example.split_once("\nuse ").map(|(_, rest)| format!("use {rest}")).unwrap();
    assert!(
        readme.contains(body.trim()),
        "README.md must contain examples/quickstart.rs from its first `use` on"
    );
}

#[tokio::test]
async fn the_quickstart_example_runs() {
    let server = support::server();
    quickstart::run(&server.url()).await.unwrap();
}
