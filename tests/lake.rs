//! The local lake: Security Lake's layout, OCSF columns as Security Lake writes them, rows sorted
//! by time in zstd Parquet, a deterministic generator, and an injected incident that matches its
//! ground truth (and no incident in the benign scenario).

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMillisecondType};
use chrono::NaiveDate;
use irp::lake::generate::{self, Config, Story, Truth};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Encoding;

use crate::common::{run, stderr, stdout};

fn config(scenario: Story, seed: u64, threads: usize) -> Config {
    Config {
        scenario,
        days: 3,
        events: 12_000,
        seed,
        regions: vec!["us-east-1".into()],
        accounts: vec!["111122223333".into()],
        end: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        threads,
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.path().extension().is_some_and(|x| x == "parquet") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A string leaf at a dotted path (`actor.user.credential_uid`), row by row.
fn strings(batch: &RecordBatch, path: &str) -> Vec<Option<String>> {
    let mut parts = path.split('.');
    let mut col = batch.column_by_name(parts.next().unwrap()).unwrap().clone();
    for p in parts {
        col = col.as_struct().column_by_name(p).unwrap().clone();
    }
    let col = arrow::compute::cast(&col, &DataType::Utf8).unwrap();
    let s = col.as_string::<i32>();
    (0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_owned()))
        .collect()
}

fn is_api(path: &Path) -> bool {
    let p = path.to_string_lossy();
    ["/cloud_trail_mgmt/", "/s3_data/", "/lambda_execution/"]
        .iter()
        .any(|s| p.contains(s))
}

fn findings(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in files(dir)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("/sh_findings/"))
    {
        for batch in read(&f) {
            let uid = strings(&batch, "finding_info.uid");
            let desc = strings(&batch, "finding_info.desc");
            out.extend(uid.into_iter().zip(desc).map(|(u, d)| (u.unwrap(), d.unwrap())));
        }
    }
    out
}

fn times(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("time_dt")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>()
        .values()
        .to_vec()
}

fn generated(scenario: Story, seed: u64, threads: usize) -> (tempfile::TempDir, Truth) {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let summary = generate::generate(&lake, &config(scenario, seed, threads), &|_, _| {}).unwrap();
    (tmp, summary.truth)
}

#[test]
fn the_lake_has_security_lakes_layout_and_columns() {
    let (tmp, _) = generated(Story::S3Exfiltration, 7, 2);
    let lake = tmp.path().join("lake");
    let found = files(&lake);
    assert_eq!(found.len(), 24, "8 sources × 3 days");
    for f in &found {
        let rel = f.strip_prefix(&lake).unwrap().to_str().unwrap().to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert!(
            [
                "cloud_trail_mgmt",
                "s3_data",
                "lambda_execution",
                "vpc_flow",
                "route53",
                "sh_findings",
                "eks_audit",
                "waf"
            ]
            .contains(&parts[0]),
            "{rel}"
        );
        assert_eq!(parts[1], "region=us-east-1");
        assert_eq!(parts[2], "accountid=111122223333");
        assert!(
            parts[3].starts_with("eventday=202611") && parts[3].len() == "eventday=20261125".len(),
            "{rel}"
        );
        let meta = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap();
        let rg = &meta.metadata().row_groups()[0];
        assert!(
            rg.columns()
                .iter()
                .all(|c| c.compression().to_string().starts_with("ZSTD")),
            "zstd everywhere"
        );
        let time_col = rg
            .columns()
            .iter()
            .find(|c| c.column_path().string() == "time_dt")
            .unwrap();
        assert!(
            time_col.statistics().is_some_and(|s| s.min_bytes_opt().is_some()),
            "time_dt has statistics"
        );
        // Timestamps are delta-encoded, not dictionary-encoded (nearly every value is distinct).
        for c in rg.columns() {
            let path = c.column_path().string();
            if irp::lake::TIME_COLUMNS.contains(&path.as_str()) {
                let encodings: Vec<Encoding> = c.encodings().collect();
                assert!(
                    encodings.contains(&Encoding::DELTA_BINARY_PACKED)
                        && !encodings.contains(&Encoding::RLE_DICTIONARY)
                        && !encodings.contains(&Encoding::PLAIN),
                    "{path} in {rel}: {encodings:?}"
                );
            }
        }
        for batch in read(f) {
            let t = times(&batch);
            assert!(t.windows(2).all(|w| w[0] <= w[1]), "rows sorted by time in {rel}");
            let epoch = batch
                .column_by_name("time")
                .unwrap()
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec();
            assert_eq!(epoch, t, "`time` is epoch ms of `time_dt`");
            // `region` and `accountid` are Hive partitions: in the folder names, not the files.
            assert!(batch.column_by_name("accountid").is_none() && batch.column_by_name("region").is_none());
            assert!(
                strings(&batch, "metadata.version")
                    .iter()
                    .all(|v| v.as_deref() == Some("1.1.0"))
            );
        }
    }
    let schema = read(&found[0])[0].schema();
    let ty = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert!(matches!(ty("time_dt"), DataType::Timestamp(_, Some(_))));
    assert!(matches!(ty("resources"), DataType::List(f) if matches!(f.data_type(), DataType::Struct(_))));
    assert!(matches!(ty("observables"), DataType::List(f) if matches!(f.data_type(), DataType::Struct(_))));
    assert!(matches!(ty("unmapped"), DataType::Map(..)));
    let DataType::Struct(actor) = ty("actor") else {
        panic!("actor is a struct")
    };
    let DataType::Struct(user) = actor.find("user").unwrap().1.data_type().clone() else {
        panic!()
    };
    for leaf in ["type", "name", "uid", "uid_alt", "credential_uid", "account"] {
        assert!(user.find(leaf).is_some(), "actor.user.{leaf}");
    }
    // Text is stored with string views in the file's Arrow schema, nested leaves too, so readers
    // point into the dictionary instead of copying each value; map entries stay plain strings.
    assert_eq!(user.find("uid").unwrap().1.data_type(), &DataType::Utf8View);
    assert_eq!(ty("class_name"), DataType::Utf8View);
    let DataType::Map(entries, _) = ty("unmapped") else {
        panic!()
    };
    let DataType::Struct(kv) = entries.data_type() else {
        panic!()
    };
    assert!(kv.iter().all(|f| f.data_type() == &DataType::Utf8));
    // What the writer fills in every row is required in the Parquet schema, so a leaf under
    // required structs has one definition level instead of three; what some rows lack stays
    // optional (the import tests write nulls into those).
    let meta = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&found[0]).unwrap()).unwrap();
    let parquet_schema = meta.metadata().file_metadata().schema_descr();
    let column = |path: &str| {
        (0..parquet_schema.num_columns())
            .map(|i| parquet_schema.column(i))
            .find(|c| c.path().string() == path)
            .unwrap_or_else(|| panic!("{path} in the file"))
    };
    for (path, max_def) in [
        ("api.operation", 0),
        ("time_dt", 0),
        ("actor.user.type", 0),
        ("actor.user.uid", 1),
        ("src_endpoint.ip", 1),
        ("api.request.data", 1),
        ("actor.session.issuer", 2),
    ] {
        assert_eq!(column(path).max_def_level(), max_def, "{path}");
    }
}

/// A day's file is one row group past 65,536 rows (the generator hands the writer batches of
/// that size), with page statistics and a page index to skip pages inside it.
#[test]
fn a_days_file_is_one_row_group_with_a_page_index() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let cfg = Config {
        days: 1,
        events: 160_000,
        ..config(Story::Benign, 3, 2)
    };
    generate::generate(&lake, &cfg, &|_, _| {}).unwrap();
    let s3 = files(&lake.join("s3_data"));
    assert_eq!(s3.len(), 1);
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required);
    let meta =
        ParquetRecordBatchReaderBuilder::try_new_with_options(std::fs::File::open(&s3[0]).unwrap(), options)
            .unwrap()
            .metadata()
            .clone();
    let rows = meta.file_metadata().num_rows();
    assert!(
        rows > 65_536,
        "{rows} rows: enough for the old row group size to split"
    );
    assert_eq!(meta.num_row_groups(), 1, "{rows} rows in one row group");
    let offsets = meta.offset_index().expect("a page index");
    assert!(offsets[0].iter().all(|column| column.page_locations().len() >= 3));
}

#[test]
fn the_injected_incident_is_what_the_truth_says() {
    let (tmp, truth) = generated(Story::S3Exfiltration, 11, 2);
    let lake = tmp.path().join("lake");
    let inc = truth.incident_details.clone().unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lake.join("truth.json")).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::to_value(&truth).unwrap(),
        "truth.json is the truth returned"
    );
    assert_eq!(
        written["incident_details"]["access_key_id"],
        inc.access_key_id.as_str()
    );
    let mut ops: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut first: Option<(i64, String)> = None;
    let mut granted = 0;
    for f in files(&lake).into_iter().filter(|f| is_api(f)) {
        for batch in read(&f) {
            let key = strings(&batch, "actor.user.credential_uid");
            let ip = strings(&batch, "src_endpoint.ip");
            let op = strings(&batch, "api.operation");
            let uid = strings(&batch, "metadata.uid");
            let data = strings(&batch, "api.request.data");
            let t = times(&batch);
            for i in 0..batch.num_rows() {
                if ip[i].as_deref() == Some(inc.ips[0].as_str()) {
                    assert_eq!(
                        key[i].as_deref(),
                        Some(inc.access_key_id.as_str()),
                        "the attacker uses the stolen key"
                    );
                    *ops.entry(op[i].clone().unwrap()).or_default() += 1;
                    if first.as_ref().is_none_or(|(ft, _)| t[i] < *ft) {
                        first = Some((t[i], uid[i].clone().unwrap()));
                    }
                    if data[i]
                        .as_deref()
                        .is_some_and(|d| d.contains(&inc.external_account))
                    {
                        granted += 1;
                    }
                }
                // The background never touches the attacker's IP or the external account.
                if data[i]
                    .as_deref()
                    .is_some_and(|d| d.contains(&inc.external_account))
                {
                    assert_eq!(ip[i].as_deref(), Some(inc.ips[0].as_str()));
                }
            }
        }
    }
    assert_eq!(ops, inc.operations);
    assert_eq!(granted, 1, "one PutBucketPolicy grants the external account");
    let (t, uid) = first.unwrap();
    assert_eq!(uid, inc.first_event.uid);
    assert_eq!(
        chrono::DateTime::from_timestamp_millis(t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        inc.first_event.time
    );
    assert!(inc.window_start <= inc.first_event.time && inc.first_event.time < inc.window_end);
    let raised: Vec<_> = findings(&lake)
        .into_iter()
        .filter(|(_, d)| d.contains(&inc.ips[0]))
        .collect();
    assert_eq!(raised.len(), 1, "one finding names the attacker's IP");
    assert_eq!(raised[0].0, inc.finding_uid);
    assert!(raised[0].1.contains(&inc.access_key_id));
}

#[test]
fn the_benign_lake_holds_no_incident() {
    let (tmp, truth) = generated(Story::Benign, 11, 2);
    assert!(!truth.incident && truth.incident_details.is_none());
    assert!(
        findings(&tmp.path().join("lake"))
            .iter()
            .all(|(_, d)| !d.contains("185.220.101.47"))
    );
    for f in files(&tmp.path().join("lake")).into_iter().filter(|f| is_api(f)) {
        for batch in read(&f) {
            assert!(
                strings(&batch, "src_endpoint.ip")
                    .iter()
                    .all(|ip| ip.as_deref() != Some("185.220.101.47"))
            );
            assert!(
                strings(&batch, "api.request.data")
                    .iter()
                    .all(|d| !d.as_deref().unwrap_or("").contains("999988887777"))
            );
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_lake_whatever_the_threads() {
    let digest = |dir: &Path| -> Vec<(String, String)> {
        files(dir)
            .iter()
            .map(|f| {
                (
                    f.strip_prefix(dir).unwrap().display().to_string(),
                    irp::journal::entry::sha256_hex(&std::fs::read(f).unwrap()),
                )
            })
            .collect()
    };
    let (a, ta) = generated(Story::S3Exfiltration, 5, 1);
    let (b, tb) = generated(Story::S3Exfiltration, 5, 3);
    let (c, _) = generated(Story::S3Exfiltration, 6, 2);
    assert_eq!(ta, tb);
    assert_eq!(digest(&a.path().join("lake")), digest(&b.path().join("lake")));
    assert_ne!(digest(&a.path().join("lake")), digest(&c.path().join("lake")));
}

#[test]
fn lake_generate_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let args = [
        "lake",
        "generate",
        lake.to_str().unwrap(),
        "--days",
        "2",
        "--events",
        "3000",
        "--end",
        "2026-11-27",
        "--seed",
        "3",
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("scenario s3-exfiltration, truth in"),
        "{}",
        stdout(&out)
    );
    let again = run(&args);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("is not empty"), "{}", stderr(&again));
    let bad = run(&[
        "lake",
        "generate",
        tmp.path().join("x").to_str().unwrap(),
        "--accounts",
        "12345",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("`12345` is not a 12-digit AWS account id"),
        "{}",
        stderr(&bad)
    );
    let bad = run(&[
        "lake",
        "generate",
        tmp.path().join("y").to_str().unwrap(),
        "--days",
        "0",
    ]);
    assert!(
        stderr(&bad).contains("--days 0 is out of range"),
        "{}",
        stderr(&bad)
    );
    let bad = run(&[
        "lake",
        "generate",
        tmp.path().join("z").to_str().unwrap(),
        "--events",
        "18446744073709551615",
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("is more than a lake may hold"),
        "{}",
        stderr(&bad)
    );
}
