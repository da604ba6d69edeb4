//! `tsal lists`: validate list files (`check`); build them from raw datasets (later).
use crate::prep::check::{self, CheckOptions};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ListsArgs {
    #[command(subcommand)]
    pub command: ListsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ListsCommand {
    /// Validate list files: every line, every annotation, every image (exists and decodes).
    /// Prints a summary per list; exits 1 when anything is wrong.
    Check(CheckArgs),
    /// Build the 300W lists (train, test.common, test.challenge, test.full) from a 300W tree
    /// holding afw/, helen/{trainset,testset}/, lfpw/{trainset,testset}/ and ibug/: GTB boxes
    /// from the landmarks, and DET boxes from Bounding_Boxes/*.mat when present.
    #[command(name = "300w")]
    W300(W300Args),
    /// Build the 300VW lists (per video, per split, .none, .sparse.10, .first) from a 300VW
    /// tree of NNN/{annot/, vid.avi}; frames are extracted with ffmpeg when NNN/extraction/ is
    /// missing.
    #[command(name = "300vw")]
    Vw300(Vw300Args),
    /// Build the AFLW lists (train, test, test.front, all; GTL and GTB boxes with the face size
    /// column) and SBR point files from AFLWinfo_release.mat.
    Aflw(AflwArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// List files (SBR format: `image annotation|None x1 y1 x2 y2 [face_size]`).
    #[arg(required = true)]
    pub lists: Vec<PathBuf>,
    #[command(flatten)]
    pub maps: super::flags::PathMaps,
    /// Expected landmarks per face (default: the first annotation's count).
    #[arg(long = "num_pts", visible_alias = "num-pts")]
    pub num_pts: Option<usize>,
    /// Only read image headers instead of decoding every image.
    #[arg(long = "header_only", visible_alias = "header-only")]
    pub header_only: bool,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print at most this many problems per list.
    #[arg(long = "max_problems", visible_alias = "max-problems", default_value_t = 20)]
    pub max_problems: usize,
}

#[derive(clap::Args, Debug)]
pub struct W300Args {
    /// The 300W folder (with afw/, helen/, lfpw/, ibug/).
    #[arg(long)]
    pub root: PathBuf,
    /// Where the lists go (paths in them are relative to it).
    #[arg(long)]
    pub out: PathBuf,
    /// Write every line this many times (the reference wrote 10; the loader needs 1).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[derive(clap::Args, Debug)]
pub struct Vw300Args {
    /// The 300VW folder (with 001/, 002/, …).
    #[arg(long)]
    pub root: PathBuf,
    /// Where the lists go (paths in them are relative to it).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct AflwArgs {
    /// AFLWinfo_release.mat (MAT v5).
    #[arg(long)]
    pub mat: PathBuf,
    /// The folder the file's `nameList` paths are under (AFLW's `flickr/`).
    #[arg(long)]
    pub root: PathBuf,
    /// Where the lists and point files go.
    #[arg(long)]
    pub out: PathBuf,
    /// Faces of the `ra` permutation that go to train (the reference: 20000; the rest test).
    #[arg(long = "train_faces", visible_alias = "train-faces", default_value_t = crate::prep::aflw_lists::TRAIN_FACES)]
    pub train_faces: usize,
}

fn run_aflw(a: &AflwArgs) -> Result<ExitCode> {
    for (path, lines) in crate::prep::aflw_lists::build(&a.mat, &a.root, &a.out, a.train_faces)? {
        println!("{:<40} {lines:>7} lines", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn run_300vw(a: &Vw300Args) -> Result<ExitCode> {
    let built = crate::prep::vw300_lists::build(&a.root, &a.out)?;
    let lines: usize = built.lists.iter().map(|l| l.1).sum();
    println!("{} lists, {lines} lines in {}", built.lists.len(), a.out.display());
    if !built.unknown_videos.is_empty() {
        println!(
            "left out (not in the 300VW protocol's splits): {}",
            built.unknown_videos.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_300w(a: &W300Args) -> Result<ExitCode> {
    let written = crate::prep::w300_lists::build(&a.root, &a.out, a.repeat)?;
    for (path, lines) in &written {
        println!("{:<40} {lines:>7} lines", path.display());
    }
    if !a.root.join("Bounding_Boxes").is_dir() {
        println!(
            "DET lists not written: no {} (the official detector boxes)",
            a.root.join("Bounding_Boxes").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: &ListsArgs) -> Result<ExitCode> {
    match &args.command {
        ListsCommand::Check(a) => run_check(a),
        ListsCommand::W300(a) => run_300w(a),
        ListsCommand::Vw300(a) => run_300vw(a),
        ListsCommand::Aflw(a) => run_aflw(a),
    }
}

fn run_check(a: &CheckArgs) -> Result<ExitCode> {
    let opts = CheckOptions { num_pts: a.num_pts, header_only: a.header_only, threads: a.threads };
    let reports = check::check_lists(&a.lists, &a.maps.path_map, &opts);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        check::print_table(&reports, a.max_problems);
    }
    let bad = reports.iter().filter(|r| !r.ok()).count();
    if bad > 0 {
        eprintln!("tsal lists check: {bad} of {} lists have problems", reports.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
