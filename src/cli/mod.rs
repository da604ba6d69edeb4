//! The command line: one file per subcommand. Everything here orchestrates; the work itself
//! lives in the primitive modules.
use anyhow::Result;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

pub mod bench;
pub mod demo;
pub mod doctor;
pub mod eval;
pub mod flags;
pub mod inspect;
pub mod lists;
pub mod plot;
pub mod reference;
pub mod snapshot;
pub mod synth;
pub mod tracker;
pub mod train;

#[derive(Parser, Debug)]
#[command(
    name = "tsal",
    version,
    about = "Semi-supervised facial landmark detection the TSAL way (Teacher-Student Asynchronous \
             Learning, arXiv 2012.06711)",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train teacher and student detectors with their trackers, the TSAL round (or supervised
    /// alone with --supervised_only), with the flags of the reference exps/main.py, in a run
    /// folder that continues where it stopped.
    #[command(after_help = train::EXAMPLES)]
    Train(Box<train::TrainArgs>),
    /// Evaluate on list files: predict with a snapshot (`--model`) or take another method's
    /// predictions (`--predictions`); NME under a named normaliser, AUC, failure rate, CED.
    #[command(after_help = eval::EXAMPLES)]
    Eval(eval::EvalArgs),
    /// Landmarks on a video (or a folder of frames): face detection or --box, the box then
    /// following the landmarks, optional flow smoothing (--track); an annotated video and a
    /// landmarks file per frame.
    #[command(after_help = demo::EXAMPLES)]
    Demo(Box<demo::DemoArgs>),
    /// Validate list files, or build them from raw 300W / 300VW / AFLW trees.
    Lists(lists::ListsArgs),
    /// Generate synthetic 300W / 300VW-format data with exact ground truth.
    Synth(synth::SynthArgs),
    /// Report libtorch, CUDA and CPU facts of this machine.
    Doctor(doctor::DoctorArgs),
    /// Benchmarks: `bench model` (detector, tracker, correlation speed), `bench data` (loader
    /// throughput), `bench train` (training steps, optionally against PyTorch eager).
    Bench(bench::BenchArgs),
    /// Parameter counts and output shapes of a model config, or the tensors of a weight file.
    Inspect(inspect::InspectArgs),
    /// Snapshots: `snapshot init` writes freshly initialised teacher and student detectors.
    Snapshot(snapshot::SnapshotArgs),
    /// A tracker on its own: `tracker pretrain` on pairs with exact flow, `tracker eval` on
    /// annotated frame pairs.
    Tracker(tracker::TrackerArgs),
    /// Draw training curves (losses per iteration, NME per epoch) of one or more run folders
    /// into a PNG.
    Plot(plot::PlotArgs),
}

/// Print a command's `report` as pretty JSON (`--json`), or as text with `text`.
pub fn emit<R: serde::Serialize>(
    report: &R,
    json: bool,
    text: impl FnOnce(&R),
) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        text(report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Parse `std::env::args` and run the subcommand.
pub fn run() -> Result<ExitCode> {
    run_with(parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit()))
}

/// Parse a command line (the program's name first), noting which `tsal train` flags were given
/// on it (they override `--config`).
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = Cli::command();
    let matches = command.clone().try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Train(a), Some(("train", m))) = (&mut cli.command, matches.subcommand()) {
        let train = command.find_subcommand("train").expect("the train subcommand");
        a.given = given(train, m);
    }
    Ok(cli)
}

/// The ids of `command`'s flags given on the command line (not their defaults).
fn given(command: &clap::Command, m: &clap::ArgMatches) -> Vec<String> {
    let on_line = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    let ids = command.get_arguments().map(|a| a.get_id().as_str());
    ids.filter(|id| on_line(id)).map(String::from).collect()
}

pub fn run_with(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Train(a) => {
            // Each step's activations reuse the last step's memory (see `heap`).
            crate::heap::keep_freed_memory();
            train::run(&a)
        }
        Command::Eval(a) => {
            crate::heap::keep_freed_memory();
            eval::run(&a)
        }
        Command::Demo(a) => demo::run(&a),
        Command::Lists(a) => lists::run(&a),
        Command::Synth(a) => synth::run(&a),
        Command::Doctor(a) => doctor::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Snapshot(a) => snapshot::run(&a),
        Command::Plot(a) => plot::run(&a),
        Command::Tracker(a) => tracker::run(&a),
    }
}
