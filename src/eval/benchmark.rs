//! Benchmark aggregates: lists recognised by their file names as the 300W test sets
//! or as 300VW categories, pooled the way papers report them.
//!
//! * `300w.test.{common,challenge,full}.{GTB,DET}` name the 300W sets with their box source.
//!   When common and challenge are both evaluated with one box source and full is not, full is
//!   their union (689 faces on real 300W).
//! * `300VW.test-K.lstNNN` are the per-video lists of category K; all given for one category
//!   are pooled frame-weighted: every frame counts once, whichever video it is in. A whole
//!   split list `300VW.test-K.lst` is category K itself. Sparse and first-frame variants are
//!   other protocols and are not pooled.
use super::curves::Summary;
use super::jitter::Jitter;
use super::score::ListReport;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a list file name says it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Benchmark {
    /// 300W `subset` (`common`, `challenge`, `full`) with box source `boxes` (`GTB`, `DET`).
    W300 { subset: String, boxes: String },
    /// 300VW category `category` (1–3), one video (`Some(id)`) or the whole split.
    Vw300 { category: u8, video: Option<String> },
}

/// Recognise a list by its file name.
pub fn recognise(list: &std::path::Path) -> Option<Benchmark> {
    let name = list.file_name()?.to_str()?;
    if let Some(rest) = name.strip_prefix("300w.test.") {
        let (subset, boxes) = rest.split_once('.')?;
        if ["common", "challenge", "full"].contains(&subset) && ["GTB", "DET"].contains(&boxes) {
            return Some(Benchmark::W300 { subset: subset.into(), boxes: boxes.into() });
        }
        return None;
    }
    let rest = name.strip_prefix("300VW.test-")?;
    let (k, rest) = rest.split_once(".lst")?;
    let category: u8 = k.parse().ok().filter(|c| (1..=3).contains(c))?;
    if rest.is_empty() {
        return Some(Benchmark::Vw300 { category, video: None });
    }
    rest.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| Benchmark::Vw300 { category, video: Some(rest.to_string()) })
}

/// One pooled figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregate {
    pub name: String,
    pub lists: Vec<PathBuf>,
    pub summary: Summary,
    pub excluded: usize,
    /// Faces without a usable prediction (see [`super::score::Missing`]).
    pub missing: usize,
    /// The members' jitter pooled pair-weighted (300VW categories; none for images).
    pub jitter: Option<Jitter>,
}

/// The benchmark figures `reports` allow: the recognised 300W sets (and full derived from
/// common + challenge), and each 300VW category pooled over its per-video lists.
pub fn aggregate(reports: &[ListReport]) -> Vec<Aggregate> {
    let pooled = |name: String, members: &[&ListReport]| {
        let errors: Vec<f64> = members.iter().flat_map(|r| r.score.errors()).collect();
        Aggregate {
            name,
            lists: members.iter().map(|r| r.list.clone()).collect(),
            summary: Summary::of(&errors),
            excluded: members.iter().map(|r| r.score.excluded).sum(),
            missing: members.iter().map(|r| r.score.missing).sum(),
            jitter: Jitter::pooled(members.iter().filter_map(|r| r.score.jitter.as_ref())),
        }
    };
    let mut w300: BTreeMap<(String, String), Vec<&ListReport>> = BTreeMap::new();
    let mut videos: BTreeMap<u8, Vec<&ListReport>> = BTreeMap::new();
    let mut splits: BTreeMap<u8, Vec<&ListReport>> = BTreeMap::new();
    for r in reports {
        match recognise(&r.list) {
            Some(Benchmark::W300 { subset, boxes }) => {
                w300.entry((boxes, subset)).or_default().push(r)
            }
            Some(Benchmark::Vw300 { category, video: Some(_) }) => {
                videos.entry(category).or_default().push(r)
            }
            Some(Benchmark::Vw300 { category, video: None }) => {
                splits.entry(category).or_default().push(r)
            }
            None => {}
        }
    }
    let mut out = Vec::new();
    for boxes in ["GTB", "DET"] {
        let get = |s: &str| w300.get(&(boxes.to_string(), s.to_string()));
        for subset in ["common", "challenge", "full"] {
            if let Some(m) = get(subset) {
                out.push(pooled(format!("300W {subset} ({boxes} boxes)"), m));
            }
        }
        if let (None, Some(c), Some(h)) = (get("full"), get("common"), get("challenge")) {
            let both: Vec<&ListReport> = c.iter().chain(h).copied().collect();
            out.push(pooled(format!("300W full = common + challenge ({boxes} boxes)"), &both));
        }
    }
    for k in 1..=3u8 {
        if let Some(m) = splits.get(&k) {
            out.push(pooled(format!("300VW category {k} (split list)"), m));
        }
        if let Some(m) = videos.get(&k) {
            let n = match m.len() {
                1 => "1 video".to_string(),
                n => format!("{n} videos"),
            };
            out.push(pooled(format!("300VW category {k} ({n}, frame-weighted)"), m));
        }
    }
    out
}
