//! "Did you mean": one rule for what counts as a typo, so the loader and every plugin suggest
//! the same way.

/// The Jaro-Winkler similarity from which a candidate is offered: 0.8 accepts a dropped,
/// doubled or swapped letter and a prefix (`insta` for `instagram`), not a word that merely
/// shares a few letters.
const THRESHOLD: f64 = 0.8;

/// The candidate closest to `word` by Jaro-Winkler similarity, if that similarity is at least
/// 0.8 (a plausible typo; see the threshold's note). Of equally close candidates, the last.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_plausible_typos() {
        assert_eq!(
            suggest("instagrm", ["messenger", "instagram"]),
            Some("instagram")
        );
        assert_eq!(suggest("zzz", ["messenger", "instagram"]), None);
    }
}
