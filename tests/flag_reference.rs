//! docs/flags.md is every command's help as the binary has it: generated from the parser's
//! definitions, and this test fails when the file is stale (TSAL_BLESS=1 rewrites it).
mod common;

#[test]
fn docs_flags_md_is_the_help_of_every_command() {
    let path = common::root().join("docs/flags.md");
    let want = tsal::cli::reference::markdown();
    if std::env::var_os("TSAL_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/flags.md is stale: run `TSAL_BLESS=1 cargo test --release --test flag_reference` \
         and commit it"
    );
    // It really is the help: `tsal train --help` appears in it whole.
    let o = common::tsal(&["train", "--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    assert!(have.contains(help.trim_end()), "tsal train --help is not in docs/flags.md");
    for heading in ["Data:", "The TSAL round:", "Examples:"] {
        assert!(help.contains(heading), "{heading}");
    }
}
