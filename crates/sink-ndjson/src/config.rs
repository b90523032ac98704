//! `NdjsonConfig`: the `[sinks.ID]` table of `type = "ndjson"`.

use serde::Deserialize;
use tributary_core::BuildError;
use tributary_lake::{ByteSize, StoreOptions, WriteMode};

/// Default gzip level (zlib's default: the usual speed/size balance).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// Default zstd level (zstd's own default).
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Default cap on files open at once (see `max_open_files`).
pub const DEFAULT_MAX_OPEN_FILES: usize = tributary_lake::writer::DEFAULT_MAX_OPEN_FILES;
/// Default `target_file_size` (bytes as stored, i.e. after compression).
pub const DEFAULT_TARGET_FILE_SIZE: ByteSize = ByteSize(256 << 20);

/// Configuration of the `ndjson` sink.
///
/// ```toml
/// [sinks.export]
/// type         = "ndjson"
/// inputs       = ["pages"]
/// path         = "./export/conversations"
/// partition_by = ["platform"]
/// compression  = "gzip"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
// Unknown keys are refused by the loader against the schema's keys, not by serde's
// `deny_unknown_fields`, which cannot see through the flattened store options.
pub struct NdjsonConfig {
    /// The directory the files go to: a local directory (`./export`), `file:///data/export`,
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`. Cloud credentials
    /// come from the provider's standard environment (`AWS_ACCESS_KEY_ID`, ...). When
    /// `compression` is not set and the last path segment ends in `.gz` or `.zst`, that
    /// compression is used (the path is still a directory).
    pub path: String,

    /// Hive partition columns, outermost first: any scalar input column, and `updated_date`
    /// (the UTC date of `updated_time`). Partition columns are stored in directory names, not in
    /// the JSON lines. Default: no partitioning.
    #[serde(default)]
    pub partition_by: Vec<String>,

    /// What a run does to the files this sink committed before: `append` (default: add),
    /// `overwrite` (replace them all, deleted once the new files are committed),
    /// `overwrite_partitions` (replace only the Hive partitions this run wrote) or
    /// `error_if_exists` (fail before writing when `path` holds data). Only files listed in
    /// this pipeline's, sink's and shard's manifests are ever deleted.
    #[serde(default)]
    pub write_mode: WriteMode,

    /// `none`, `gzip` (`.ndjson.gz`) or `zstd` (`.ndjson.zst`). Default: inferred from a
    /// `.gz`/`.zst` ending of `path`, else `none`.
    #[serde(default)]
    pub compression: Option<Compression>,

    /// Compression level: gzip 0–9 (default 6), zstd 1–22 (default 3).
    #[serde(default)]
    pub compression_level: Option<i32>,

    /// Write null values as `"key": null` (true) or leave the key out (false). Default: false.
    #[serde(default)]
    pub explicit_nulls: bool,

    /// Start a new file after this many lines. Default: no limit (files rotate by size).
    #[serde(default)]
    pub max_rows_per_file: Option<u64>,

    /// Start a new file once a file reaches about this many bytes as stored (after
    /// compression): bytes, or a string such as `"128MiB"`. Default: `"256MiB"`.
    #[serde(default = "default_target_file_size")]
    pub target_file_size: ByteSize,

    /// At most this many files are open at once (one per partition being written); the least
    /// recently written is closed to make room. Default: 16.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,

    /// The object-store options (`endpoint`, `allow_http`, `region`): one set of keys, checked
    /// alike for every sink and the state (see `tributary plugins`).
    #[serde(flatten)]
    pub store: StoreOptions,
}

/// Compression of the NDJSON files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain `.ndjson`.
    None,
    /// `.ndjson.gz` (readable by `gzip -d`, `zcat`, every JSON-lines reader).
    Gzip,
    /// `.ndjson.zst` (smaller and faster than gzip; `zstd -d`).
    Zstd,
}

/// The effective compression and level, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// No compression.
    None,
    /// gzip at a level 0–9.
    Gzip(u32),
    /// zstd at a level 1–22.
    Zstd(i32),
}

impl Codec {
    /// The file extension, without the leading dot.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "ndjson",
            Codec::Gzip(_) => "ndjson.gz",
            Codec::Zstd(_) => "ndjson.zst",
        }
    }
}

fn default_target_file_size() -> ByteSize {
    DEFAULT_TARGET_FILE_SIZE
}

fn default_max_open_files() -> usize {
    DEFAULT_MAX_OPEN_FILES
}

impl NdjsonConfig {
    /// The compression in effect: explicit, else inferred from `path`, else none.
    pub fn codec(&self) -> Result<Codec, BuildError> {
        let trimmed = self.path.trim_end_matches('/');
        let inferred = if trimmed.ends_with(".gz") {
            Some(Compression::Gzip)
        } else if trimmed.ends_with(".zst") {
            Some(Compression::Zstd)
        } else {
            None
        };
        let compression = match (self.compression, inferred) {
            (Some(c), Some(i)) if c != i => {
                return Err(BuildError::at(
                    "compression",
                    format!("`compression = {c:?}` contradicts the extension of `path`")
                        .to_lowercase(),
                )
                .with_help("remove `compression` or rename `path`"));
            }
            (Some(c), _) => c,
            (None, Some(i)) => i,
            (None, None) => Compression::None,
        };
        let level = self.compression_level;
        Ok(match compression {
            Compression::None => {
                if level.is_some() {
                    return Err(BuildError::at(
                        "compression_level",
                        "`compression_level` needs `compression = \"gzip\"` or `\"zstd\"`",
                    ));
                }
                Codec::None
            }
            Compression::Gzip => match level.unwrap_or(DEFAULT_GZIP_LEVEL as i32) {
                l @ 0..=9 => Codec::Gzip(l.unsigned_abs()),
                l => {
                    return Err(BuildError::at(
                        "compression_level",
                        format!("gzip level {l} is out of range"),
                    )
                    .with_help("use 0 (store) to 9 (smallest); 6 is the default"));
                }
            },
            Compression::Zstd => match level.unwrap_or(DEFAULT_ZSTD_LEVEL) {
                l @ 1..=22 => Codec::Zstd(l),
                l => {
                    return Err(BuildError::at(
                        "compression_level",
                        format!("zstd level {l} is out of range"),
                    )
                    .with_help("use 1 (fastest) to 22 (smallest); 3 is the default"));
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> NdjsonConfig {
        toml::from_str(t).unwrap()
    }

    #[test]
    fn compression_is_explicit_or_inferred_from_the_path() {
        assert_eq!(parse("path = \"out\"").codec().unwrap(), Codec::None);
        assert_eq!(parse("path = \"out.gz\"").codec().unwrap(), Codec::Gzip(6));
        assert_eq!(
            parse("path = \"s3://b/x.zst/\"").codec().unwrap(),
            Codec::Zstd(3)
        );
        let c = parse("path = \"out\"\ncompression = \"zstd\"\ncompression_level = 19");
        assert_eq!(c.codec().unwrap(), Codec::Zstd(19));
        assert_eq!(c.codec().unwrap().extension(), "ndjson.zst");
        let e = parse("path = \"out.gz\"\ncompression = \"zstd\"")
            .codec()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compression"));
        let e = parse("path = \"o\"\ncompression = \"gzip\"\ncompression_level = 12")
            .codec()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("compression_level"));
        assert!(
            parse("path = \"o\"\ncompression_level = 3")
                .codec()
                .is_err()
        );
    }

    fn load_errors(table: &str) -> String {
        tributary_testkit::sink_table_errors::<crate::Ndjson>("ndjson", table)
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let c = parse("path = \"out\"");
        assert!(!c.explicit_nulls);
        assert_eq!(c.max_open_files, DEFAULT_MAX_OPEN_FILES);
        assert_eq!(c.target_file_size, DEFAULT_TARGET_FILE_SIZE);
        let e = load_errors("path = \"x\"\nexplicit_null = true");
        assert!(e.contains("unknown key `explicit_null`"), "{e}");
        assert!(e.to_string().contains("explicit_nulls"), "{e}");
        assert!(toml::from_str::<NdjsonConfig>("path = \"x\"\ncompression = \"lz4\"").is_err());
    }
}
