//! Every example in `pipelines/` is a valid pipeline.

use crate::{root, run, tributary};

#[test]
fn every_example_pipeline_validates() {
    let dir = root().join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "pipelines/ holds the examples");
    for file in files {
        // Examples for real data read the token from the environment (`tributary validate`
        // needs one, and calls nothing).
        let (code, _, stderr) = run(tributary()
            .env("FB_PAGE_TOKEN", "placeholder-token")
            .arg("validate")
            .arg(&file));
        assert_eq!(code, 0, "{} must validate:\n{stderr}", file.display());
    }
}
