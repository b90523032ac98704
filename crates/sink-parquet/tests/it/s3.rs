//! A round trip through a real S3-compatible server (`moto_server` on loopback).
//!
//! Credentials reach the sink the production way, through the `AWS_*` environment. Tests cannot
//! set the environment of their own process safely, so the writing half runs in a child process
//! (this test binary again, one `#[ignore]`d test) started with that environment.

use serde_json::Value;
use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::RunContext;
use tributary_lake::{StoreOptions, TargetSpec};

use crate::build;
use crate::data::{self, PY_PRELUDE};
use crate::interop::expected;

const BUCKET: &str = "lake";

#[test]
fn s3_round_trip_through_a_real_s3_server() {
    let server = tributary_testkit::S3Server::start();
    server.create_bucket(BUCKET);
    let out = server.run_child_test("s3::s3_writer_child");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "writer failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = stdout
        .lines()
        .find_map(|l| l.split("RUN_ID=").nth(1))
        .unwrap_or_else(|| panic!("the writer did not run:\n{stdout}"))
        .trim()
        .to_owned();

    // Read back with tools nobody here wrote: boto3 lists the keys, pyarrow reads the dataset.
    let script = format!(
        "{PY_PRELUDE}
endpoint, bucket = sys.argv[1], sys.argv[2]
import boto3
s3 = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', []))
import pyarrow.fs as fs, pyarrow.dataset as ds
s3fs = fs.S3FileSystem(endpoint_override=endpoint, scheme='http', access_key='test', secret_key='test', region='us-east-1')
rows = ds.dataset(f'{{bucket}}/raw/conversations', filesystem=s3fs, format='parquet', partitioning='hive').to_table().to_pylist()
manifest = [k for k in keys if k.endswith('.json')]
m = json.loads(s3.get_object(Bucket=bucket, Key=manifest[0])['Body'].read()) if manifest else None
emit({{'keys': keys, 'rows': [norm(r) for r in rows], 'manifest': m}})
import os; os._exit(0)
"
    );
    let out = tributary_testkit::run_python(&script, &[&server.endpoint, BUCKET]);
    let out: Value = serde_json::from_slice(&out.stdout).expect("reader output is JSON");
    let keys: Vec<&str> = out["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let parquet: Vec<&&str> = keys.iter().filter(|k| k.ends_with(".parquet")).collect();
    assert!(!parquet.is_empty(), "{keys:?}");
    for k in &parquet {
        assert!(k.starts_with("raw/conversations/platform="), "{k}");
        assert!(k.contains(&format!("/part-{run_id}-")), "{k}");
    }
    assert!(
        !keys.iter().any(|k| k.contains("staging")),
        "staged objects are gone: {keys:?}"
    );
    assert!(
        keys.contains(&format!("raw/conversations/_tributary/manifests/{run_id}.json").as_str())
    );
    assert_eq!(
        out["manifest"]["files"].as_array().unwrap().len(),
        parquet.len()
    );

    let want = expected(&data::hard_rows());
    data::assert_same_rows(
        "pyarrow over S3",
        out["rows"].as_array().unwrap().clone(),
        want,
    );
}

#[tokio::test]
#[ignore = "run by s3_round_trip_through_a_real_s3_server with the AWS_* environment"]
async fn s3_writer_child() {
    let endpoint = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").expect("run by the parent test");
    let path = format!("s3://{BUCKET}/raw/conversations");
    let table = format!(
        "path = \"{path}\"\nendpoint = \"{endpoint}\"\nallow_http = true\n\
         partition_by = [\"platform\", \"updated_date\"]\nrow_group_rows = 4"
    );
    let ctx = RunContext::for_test("lake");
    let mut sink = build(&table, conversations_schema());
    sink.start(&ctx).await.unwrap();
    sink.write(&data::batch(&data::hard_rows())).await.unwrap();

    // Before finish: the bucket holds nothing a reader would pick up.
    let opts = StoreOptions {
        endpoint: Some(endpoint.clone()),
        allow_http: true,
        region: None,
    };
    let target = TargetSpec::parse(&path, opts).unwrap().open().unwrap();
    let before = list(&target).await;
    assert!(
        !before.iter().any(|k| k.ends_with(".parquet")),
        "{before:?}"
    );

    let report = sink.finish().await.unwrap();
    assert_eq!(report.rows, data::hard_rows().len() as u64);
    println!("RUN_ID={}", ctx.run_id);
}

async fn list(target: &tributary_lake::Target) -> Vec<String> {
    use futures::TryStreamExt;
    target
        .store
        .list(Some(&target.base))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}
