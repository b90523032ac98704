//! The table on a real S3-compatible server (`moto_server` on loopback), written by concurrent
//! writers and read back by Python `deltalake` and polars.
//!
//! Credentials reach the sink the production way, through the `AWS_*` environment; a test
//! cannot safely set its own process's environment, so the writers run in a child process (this
//! test binary again, one `#[ignore]`d test).

use tributary_core::canonical::conversations_schema;
use tributary_core::plugin::RunContext;
use tributary_testkit::batches::canonical;
use tributary_testkit::sinks::run;

use crate::{build, keys_of, read, strings};

const BUCKET: &str = "lake";
const TABLE: &str = "s3://lake/delta/conversations";

#[test]
fn concurrent_writers_commit_to_one_table_on_s3() {
    let server = tributary_testkit::S3Server::start();
    server.create_bucket(BUCKET);
    let out = server.run_child_test("s3::s3_writers_child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("WROTE=400"),
        "writers failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let options = serde_json::json!({
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    });
    let got = read(TABLE, Some(&options));
    assert_eq!(got["rows"], 400, "{got}");
    assert_eq!(got["polars_rows"], 400);
    assert_eq!(strings(&got["keys"]), keys_of(&canonical(400, 2)));
    assert_eq!(got["version"], 4, "create + 4 appends, none lost: {got}");
}

#[tokio::test]
#[ignore = "run by concurrent_writers_commit_to_one_table_on_s3 with the AWS_* environment"]
async fn s3_writers_child() {
    let endpoint = std::env::var("TRIBUTARY_TEST_S3_ENDPOINT").expect("run by the parent test");
    let config = format!(
        "path = \"{TABLE}\"\nendpoint = \"{endpoint}\"\nallow_http = true\n\
         partition_by = [\"platform\", \"updated_date\"]"
    );
    let all = canonical(400, 2);
    let tasks: Vec<_> = (0..4)
        .map(|k| {
            let config = config.clone();
            let part = all.slice(k * 100, 100);
            tokio::spawn(async move {
                let mut ctx = RunContext::for_test("table");
                ctx.shard = Some(tributary_core::shard::Shard::new(k as u32, 4).unwrap());
                run(build(&config, conversations_schema()), &ctx, &[part])
                    .await
                    .rows
            })
        })
        .collect();
    let mut rows = 0;
    for t in tasks {
        rows += t.await.unwrap();
    }
    println!("WROTE={rows}");
}
