//! `docs/flags.md`: every command's `--help`, rendered from the same definitions the parser
//! uses, so the reference cannot drift from the binary (tests/flag_reference.rs compares them).
use clap::CommandFactory;

/// The flag reference in Markdown: each command's long help, in the order `tsal --help` lists
/// them, subcommands after their parent.
pub fn markdown() -> String {
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut out = String::from(
        "# Flag reference\n\nEvery command's `--help`, generated from the definitions the \
         parser uses (`tests/flag_reference.rs` fails when this file is stale; \
         `TSAL_BLESS=1 cargo test --release --test flag_reference` writes it anew).\n",
    );
    out += &format!("\n## `tsal`\n\n```text\n{}\n```\n", cmd.render_long_help());
    walk(&cmd, "tsal", &mut out);
    out
}

fn walk(cmd: &clap::Command, path: &str, out: &mut String) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{path} {}", sub.get_name());
        let help = sub.clone().render_long_help().to_string();
        out.push_str(&format!("\n## `{name}`\n\n```text\n{}\n```\n", help.trim_end()));
        walk(sub, &name, out);
    }
}
