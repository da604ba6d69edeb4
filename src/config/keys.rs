//! Unknown configuration keys are errors: a misspelt key (`"argmaxx"`) would otherwise be
//! ignored silently and its default used. The message names the file, the key and the
//! closest known key.

/// Check `keys` (found in `file`, under `section` when nested, e.g. `loss`) against `known`.
pub fn check<'a>(
    file: &std::path::Path,
    section: &str,
    keys: impl IntoIterator<Item = &'a str>,
    known: &[&str],
) -> anyhow::Result<()> {
    for key in keys {
        if known.contains(&key) {
            continue;
        }
        let path = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
        let hint = match closest(key, known) {
            Some(k) => format!("did you mean `{k}`?"),
            None => format!("known keys: {}", known.join(", ")),
        };
        anyhow::bail!("{}: unknown key `{path}`: {hint}", file.display());
    }
    Ok(())
}

/// The known key nearest to `key` (case-insensitive edit distance), when near enough to be a
/// plausible misspelling.
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
