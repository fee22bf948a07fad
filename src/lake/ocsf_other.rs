//! OCSF 1.1 rows of the other Security Lake sources, source version 2: VPC Flow Logs (Network
//! Activity 4001), Route 53 Resolver query logs (DNS Activity 4003) and Security Hub findings
//! (Detection Finding 2004). The columns playbooks read, with Security Lake's names and nesting.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::ocsf::{Child, batch, list, opt, req, string_map, structure, utf8};

/// Columns every source ends with: class, category, activity, severity, time, unmapped,
/// partition-like columns and observables (`(name, type, type_id, value)`).
struct Common<'a> {
    class: (i32, &'a str),
    category: (i32, &'a str),
    activity: Vec<(i32, &'a str)>,
    product: (&'a str, &'a str),
    times: Vec<i64>,
    accounts: Vec<&'a str>,
    regions: Vec<&'a str>,
    unmapped: Vec<Vec<(&'a str, &'a str)>>,
    observables: Vec<Vec<(&'a str, &'a str, i32, String)>>,
}

fn i32s(values: impl Iterator<Item = i32>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<Int32Array>())
}

fn i64s(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<Int64Array>())
}

fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMillisecondArray>().with_timezone("UTC"))
}

impl Common<'_> {
    fn metadata(&self) -> Result<ArrayRef, ArrowError> {
        let n = self.times.len();
        let feature = structure(
            vec![req("name", utf8((0..n).map(|_| Some(self.product.1))))],
            None,
        )?;
        let product = structure(
            vec![
                req("name", utf8((0..n).map(|_| Some(self.product.0)))),
                req("vendor_name", utf8((0..n).map(|_| Some("AWS")))),
                req("feature", feature),
            ],
            None,
        )?;
        structure(
            vec![
                req("product", product),
                req(
                    "profiles",
                    list(utf8((0..n).map(|_| Some("cloud"))), (0..n).map(|_| 1))?,
                ),
                req("version", utf8((0..n).map(|_| Some("1.1.0")))),
            ],
            None,
        )
    }

    fn cloud(&self) -> Result<ArrayRef, ArrowError> {
        structure(
            vec![
                req(
                    "account",
                    structure(
                        vec![req("uid", utf8(self.accounts.iter().map(|a| Some(*a))))],
                        None,
                    )?,
                ),
                req("region", utf8(self.regions.iter().map(|r| Some(*r)))),
                req("provider", utf8(self.regions.iter().map(|_| Some("AWS")))),
            ],
            None,
        )
    }

    /// `metadata`, `time`, `time_dt`, `cloud` first; the rest after the source's own columns.
    fn head(&self) -> Result<Vec<Child<'static>>, ArrowError> {
        Ok(vec![
            req("metadata", self.metadata()?),
            req("time", i64s(self.times.iter().copied())),
            req("time_dt", timestamps(self.times.iter().map(|t| Some(*t)))),
            req("cloud", self.cloud()?),
        ])
    }

    fn tail(&self) -> Result<Vec<Child<'static>>, ArrowError> {
        let n = self.times.len();
        let flat: Vec<&(&str, &str, i32, String)> = self.observables.iter().flatten().collect();
        let observables = structure(
            vec![
                req("name", utf8(flat.iter().map(|o| Some(o.0)))),
                req("value", utf8(flat.iter().map(|o| Some(o.3.as_str())))),
                req("type", utf8(flat.iter().map(|o| Some(o.1)))),
                req("type_id", i32s(flat.iter().map(|o| o.2))),
            ],
            None,
        )?;
        Ok(vec![
            req("class_name", utf8((0..n).map(|_| Some(self.class.1)))),
            req("class_uid", i32s((0..n).map(|_| self.class.0))),
            req("category_name", utf8((0..n).map(|_| Some(self.category.1)))),
            req("category_uid", i32s((0..n).map(|_| self.category.0))),
            req("activity_name", utf8(self.activity.iter().map(|a| Some(a.1)))),
            req("activity_id", i32s(self.activity.iter().map(|a| a.0))),
            req(
                "type_uid",
                i64s(
                    self.activity
                        .iter()
                        .map(|a| i64::from(self.class.0) * 100 + i64::from(a.0)),
                ),
            ),
            req("unmapped", string_map(self.unmapped.iter().cloned())?),
            req("accountid", utf8(self.accounts.iter().map(|a| Some(*a)))),
            req("region", utf8(self.regions.iter().map(|r| Some(*r)))),
            req("asl_version", utf8((0..n).map(|_| Some("2.0")))),
            req(
                "observables",
                list(observables, self.observables.iter().map(Vec::len))?,
            ),
        ])
    }
}

fn severity(id: impl Iterator<Item = i32>) -> Vec<Child<'static>> {
    let ids: Vec<i32> = id.collect();
    let names = ids.iter().map(|i| {
        Some(match i {
            1 => "Informational",
            2 => "Low",
            3 => "Medium",
            4 => "High",
            5 => "Critical",
            _ => "Unknown",
        })
    });
    vec![
        req("severity_id", i32s(ids.iter().copied())),
        req("severity", utf8(names)),
    ]
}

/// One VPC flow log record.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub start: i64,
    pub end: i64,
    pub src_ip: String,
    pub src_port: i32,
    pub dst_ip: String,
    pub dst_port: i32,
    /// 6 TCP, 17 UDP, 1 ICMP.
    pub protocol: i32,
    pub packets: i64,
    pub bytes: i64,
    pub accepted: bool,
    /// Inbound (1) or outbound (2), seen from the interface.
    pub direction: i32,
    pub vpc: String,
    pub subnet: String,
    pub instance: Option<String>,
    pub interface: String,
    pub account: String,
    pub region: String,
}

pub fn flow_schema() -> SchemaRef {
    flow_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

pub fn flow_batch(rows: &[Flow]) -> Result<RecordBatch, ArrowError> {
    let common = Common {
        class: (4001, "Network Activity"),
        category: (4, "Network Activity"),
        activity: rows.iter().map(|_| (6, "Traffic")).collect(),
        product: ("Amazon VPC", "Flowlogs"),
        times: rows.iter().map(|r| r.end).collect(),
        accounts: rows.iter().map(|r| r.account.as_str()).collect(),
        regions: rows.iter().map(|r| r.region.as_str()).collect(),
        unmapped: rows.iter().map(|_| Vec::new()).collect(),
        observables: rows
            .iter()
            .map(|r| {
                vec![
                    ("src_endpoint.ip", "IP Address", 2, r.src_ip.clone()),
                    ("dst_endpoint.ip", "IP Address", 2, r.dst_ip.clone()),
                ]
            })
            .collect(),
    };
    let endpoint =
        |ip: fn(&Flow) -> &str, port: fn(&Flow) -> i32, local: bool| -> Result<ArrayRef, ArrowError> {
            let on = |f: &Flow| (f.direction == 1) != local;
            structure(
                vec![
                    req("port", i32s(rows.iter().map(port))),
                    req("ip", utf8(rows.iter().map(|r| Some(ip(r))))),
                    req("vpc_uid", utf8(rows.iter().map(|r| Some(r.vpc.as_str())))),
                    req("subnet_uid", utf8(rows.iter().map(|r| Some(r.subnet.as_str())))),
                    opt(
                        "interface_uid",
                        utf8(rows.iter().map(|r| on(r).then_some(r.interface.as_str()))),
                    ),
                    opt(
                        "instance_uid",
                        utf8(
                            rows.iter()
                                .map(|r| if on(r) { r.instance.as_deref() } else { None }),
                        ),
                    ),
                ],
                None,
            )
        };
    let mut cols = common.head()?;
    cols.extend([
        req("start_time", i64s(rows.iter().map(|r| r.start))),
        req("start_time_dt", timestamps(rows.iter().map(|r| Some(r.start)))),
        req("end_time", i64s(rows.iter().map(|r| r.end))),
        req("end_time_dt", timestamps(rows.iter().map(|r| Some(r.end)))),
        req("src_endpoint", endpoint(|r| &r.src_ip, |r| r.src_port, false)?),
        req("dst_endpoint", endpoint(|r| &r.dst_ip, |r| r.dst_port, true)?),
        req(
            "connection_info",
            structure(
                vec![
                    req("protocol_num", i32s(rows.iter().map(|r| r.protocol))),
                    req("protocol_ver", utf8(rows.iter().map(|_| Some("IPv4")))),
                    req("boundary", utf8(rows.iter().map(|_| Some("-")))),
                    req("direction_id", i32s(rows.iter().map(|r| r.direction))),
                    req(
                        "direction",
                        utf8(
                            rows.iter()
                                .map(|r| Some(if r.direction == 1 { "Inbound" } else { "Outbound" })),
                        ),
                    ),
                ],
                None,
            )?,
        ),
        req(
            "traffic",
            structure(
                vec![
                    req("packets", i64s(rows.iter().map(|r| r.packets))),
                    req("bytes", i64s(rows.iter().map(|r| r.bytes))),
                ],
                None,
            )?,
        ),
        req(
            "action_id",
            i32s(rows.iter().map(|r| if r.accepted { 1 } else { 2 })),
        ),
        req(
            "action",
            utf8(
                rows.iter()
                    .map(|r| Some(if r.accepted { "Allowed" } else { "Denied" })),
            ),
        ),
        req("status_code", utf8(rows.iter().map(|_| Some("OK")))),
    ]);
    cols.extend(severity(rows.iter().map(|_| 1)));
    cols.extend(common.tail()?);
    batch(cols)
}

/// One Route 53 Resolver query.
#[derive(Debug, Clone, Default)]
pub struct Dns {
    pub time: i64,
    pub src_ip: String,
    pub instance: Option<String>,
    pub vpc: String,
    pub hostname: String,
    /// `A`, `AAAA`, `TXT`, …
    pub qtype: &'static str,
    /// 0 `NoError`, 3 `NXDomain`, …
    pub rcode: i32,
    pub answers: Vec<String>,
    pub account: String,
    pub region: String,
}

pub fn dns_schema() -> SchemaRef {
    dns_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

pub fn dns_batch(rows: &[Dns]) -> Result<RecordBatch, ArrowError> {
    let common = Common {
        class: (4003, "DNS Activity"),
        category: (4, "Network Activity"),
        activity: rows.iter().map(|_| (2, "Response")).collect(),
        product: ("Route 53", "Resolver Query Logs"),
        times: rows.iter().map(|r| r.time).collect(),
        accounts: rows.iter().map(|r| r.account.as_str()).collect(),
        regions: rows.iter().map(|r| r.region.as_str()).collect(),
        unmapped: rows.iter().map(|_| Vec::new()).collect(),
        observables: rows
            .iter()
            .map(|r| {
                vec![
                    ("src_endpoint.ip", "IP Address", 2, r.src_ip.clone()),
                    ("query.hostname", "Hostname", 1, r.hostname.clone()),
                ]
            })
            .collect(),
    };
    let all: Vec<(&Dns, &String)> = rows
        .iter()
        .flat_map(|r| r.answers.iter().map(move |a| (r, a)))
        .collect();
    let answers = structure(
        vec![
            req("type", utf8(all.iter().map(|(r, _)| Some(r.qtype)))),
            req("rdata", utf8(all.iter().map(|(_, a)| Some(a.as_str())))),
            req("class", utf8(all.iter().map(|_| Some("IN")))),
        ],
        None,
    )?;
    let mut cols = common.head()?;
    cols.extend([
        req(
            "src_endpoint",
            structure(
                vec![
                    req("vpc_uid", utf8(rows.iter().map(|r| Some(r.vpc.as_str())))),
                    req("ip", utf8(rows.iter().map(|r| Some(r.src_ip.as_str())))),
                    req("port", i32s(rows.iter().map(|_| 53_000))),
                    opt("instance_uid", utf8(rows.iter().map(|r| r.instance.as_deref()))),
                ],
                None,
            )?,
        ),
        req(
            "query",
            structure(
                vec![
                    req("hostname", utf8(rows.iter().map(|r| Some(r.hostname.as_str())))),
                    req("type", utf8(rows.iter().map(|r| Some(r.qtype)))),
                    req("class", utf8(rows.iter().map(|_| Some("IN")))),
                ],
                None,
            )?,
        ),
        req("answers", list(answers, rows.iter().map(|r| r.answers.len()))?),
        req("rcode_id", i32s(rows.iter().map(|r| r.rcode))),
        req(
            "rcode",
            utf8(
                rows.iter()
                    .map(|r| Some(if r.rcode == 0 { "NoError" } else { "NXDomain" })),
            ),
        ),
        req(
            "connection_info",
            structure(
                vec![
                    req("protocol_name", utf8(rows.iter().map(|_| Some("UDP")))),
                    req("direction_id", i32s(rows.iter().map(|_| 2))),
                    req("direction", utf8(rows.iter().map(|_| Some("Outbound")))),
                ],
                None,
            )?,
        ),
    ]);
    cols.extend(severity(rows.iter().map(|_| 1)));
    cols.extend(common.tail()?);
    batch(cols)
}

/// One Security Hub finding (`GuardDuty`'s, here).
#[derive(Debug, Clone, Default)]
pub struct Finding {
    pub time: i64,
    pub uid: String,
    pub title: String,
    pub desc: String,
    /// e.g. `TTPs/Initial Access/UnauthorizedAccess:IAMUser-TorIPCaller`.
    pub finding_type: String,
    pub severity_id: i32,
    /// The resources it names, `(type, uid)`, as Security Hub's `Resources` (`AwsIamAccessKey`,
    /// `AwsS3Bucket`, `AwsEc2Instance`).
    pub resources: Vec<(String, String)>,
    /// Extra observables (`(name, type, type_id, value)`).
    pub observables: Vec<(&'static str, &'static str, i32, String)>,
    pub account: String,
    pub region: String,
}

/// Security Lake's type of `sh_findings.vulnerabilities` (source version 2): a list of OCSF
/// vulnerability objects.
fn vulnerabilities_type() -> arrow::datatypes::DataType {
    use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
    let text = || DataType::Utf8;
    let texts = || DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
    let object = |fields: Vec<Field>| DataType::Struct(Fields::from(fields));
    let list_of = |item: DataType| DataType::List(Arc::new(Field::new("element", item, true)));
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    let time = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let cvss = object(vec![
        f("base_score", DataType::Decimal128(3, 1)),
        f("vector_string", text()),
        f("version", text()),
    ]);
    let cve = object(vec![
        f("cvss", list_of(cvss)),
        f("uid", text()),
        f("epss", object(vec![f("score", text())])),
        f("references", texts()),
        f("created_time_dt", time()),
        f("modified_time_dt", time()),
    ]);
    let package = object(vec![
        f("architecture", text()),
        f("epoch", DataType::Int32),
        f("path", text()),
        f("fixed_in_version", text()),
        f("name", text()),
        f("package_manager", text()),
        f("release", text()),
        f("remediation", object(vec![f("desc", text())])),
        f("version", text()),
    ]);
    let code = object(vec![
        f("end_line", DataType::Int32),
        f(
            "file",
            object(vec![
                f("name", text()),
                f("path", text()),
                f("uid", text()),
                f("type_id", DataType::Int32),
            ]),
        ),
        f("start_line", DataType::Int32),
    ]);
    list_of(object(vec![
        f(
            "remediation",
            object(vec![f("desc", text()), f("references", texts())]),
        ),
        f("cve", cve),
        f("references", texts()),
        f("related_vulnerabilities", texts()),
        f("vendor_name", text()),
        f("affected_packages", list_of(package)),
        f("cwe", object(vec![f("uid", text())])),
        f("affected_code", list_of(code)),
        f("is_fix_available", DataType::Boolean),
        f("is_exploit_available", DataType::Boolean),
    ]))
}

pub fn finding_schema() -> SchemaRef {
    finding_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

pub fn finding_batch(rows: &[Finding]) -> Result<RecordBatch, ArrowError> {
    let common = Common {
        class: (2004, "Detection Finding"),
        category: (2, "Findings"),
        activity: rows.iter().map(|_| (1, "Create")).collect(),
        product: ("GuardDuty", "Security Hub"),
        times: rows.iter().map(|r| r.time).collect(),
        accounts: rows.iter().map(|r| r.account.as_str()).collect(),
        regions: rows.iter().map(|r| r.region.as_str()).collect(),
        unmapped: rows.iter().map(|_| vec![("ProductName", "GuardDuty")]).collect(),
        observables: rows.iter().map(|r| r.observables.clone()).collect(),
    };
    let each = || rows.iter().flat_map(|r| r.resources.iter().map(move |x| (r, x)));
    let resources = structure(
        vec![
            req("type", utf8(each().map(|(_, (t, _))| Some(t.as_str())))),
            req("uid", utf8(each().map(|(_, (_, u))| Some(u.as_str())))),
            req("region", utf8(each().map(|(r, _)| Some(r.region.as_str())))),
            req("cloud_partition", utf8(each().map(|_| Some("aws")))),
        ],
        None,
    )?;
    let mut cols = common.head()?;
    cols.extend([
        req(
            "finding_info",
            structure(
                vec![
                    req("uid", utf8(rows.iter().map(|r| Some(r.uid.as_str())))),
                    req("title", utf8(rows.iter().map(|r| Some(r.title.as_str())))),
                    req("desc", utf8(rows.iter().map(|r| Some(r.desc.as_str())))),
                    req(
                        "types",
                        list(
                            utf8(rows.iter().map(|r| Some(r.finding_type.as_str()))),
                            rows.iter().map(|_| 1),
                        )?,
                    ),
                    req("created_time_dt", timestamps(rows.iter().map(|r| Some(r.time)))),
                    req(
                        "first_seen_time_dt",
                        timestamps(rows.iter().map(|r| Some(r.time))),
                    ),
                    req("last_seen_time_dt", timestamps(rows.iter().map(|r| Some(r.time)))),
                    req("modified_time_dt", timestamps(rows.iter().map(|r| Some(r.time)))),
                ],
                None,
            )?,
        ),
        // The finding's first resource, as Security Hub's `Resources[0]` (null when it names none).
        opt(
            "resource",
            structure(
                vec![
                    req(
                        "type",
                        utf8(rows.iter().map(|r| r.resources.first().map(|x| x.0.as_str()))),
                    ),
                    req(
                        "uid",
                        utf8(rows.iter().map(|r| r.resources.first().map(|x| x.1.as_str()))),
                    ),
                    req("region", utf8(rows.iter().map(|r| Some(r.region.as_str())))),
                    req("cloud_partition", utf8(rows.iter().map(|_| Some("aws")))),
                ],
                super::ocsf::nulls_where(rows.iter().map(|r| !r.resources.is_empty())),
            )?,
        ),
        // Detection findings (GuardDuty's) carry no vulnerabilities; Inspector's do. The column is
        // there with Security Lake's type, so queries that read it run and find none.
        opt(
            "vulnerabilities",
            arrow::array::new_null_array(&vulnerabilities_type(), rows.len()),
        ),
        req(
            "resources",
            list(resources, rows.iter().map(|r| r.resources.len()))?,
        ),
        req("status", utf8(rows.iter().map(|_| Some("New")))),
        req("status_id", i32s(rows.iter().map(|_| 1))),
    ]);
    cols.extend(severity(rows.iter().map(|r| r.severity_id)));
    cols.extend(common.tail()?);
    batch(cols)
}

/// One Kubernetes API call from an EKS cluster's audit log: API Activity (6003), as Security Lake's
/// `EKS_AUDIT` source maps it.
#[derive(Debug, Clone, Default)]
pub struct EksCall {
    pub time: i64,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
    pub verb: &'static str,
    pub user: String,
    pub groups: Vec<String>,
    pub src_ip: String,
    pub user_agent: String,
    /// The request's path: `/api/v1/namespaces/default/pods`.
    pub path: String,
    /// The resource acted on: `(type, name, namespace)`.
    pub resource: (String, String, String),
    /// The HTTP status the API server answered.
    pub code: i32,
    pub account: String,
    pub region: String,
}

pub fn eks_schema() -> SchemaRef {
    eks_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

pub fn eks_batch(rows: &[EksCall]) -> Result<RecordBatch, ArrowError> {
    // OCSF API Activity: 1 Create, 2 Read, 3 Update, 4 Delete.
    let activity = |verb: &str| match verb {
        "create" => (1, "Create"),
        "get" | "list" | "watch" => (2, "Read"),
        "update" | "patch" => (3, "Update"),
        "delete" => (4, "Delete"),
        _ => (99, "Other"),
    };
    let common = Common {
        class: (6003, "API Activity"),
        category: (6, "Application Activity"),
        activity: rows.iter().map(|r| activity(r.verb)).collect(),
        product: ("Amazon EKS", "Elastic Kubernetes Service"),
        times: rows.iter().map(|r| r.time).collect(),
        accounts: rows.iter().map(|r| r.account.as_str()).collect(),
        regions: rows.iter().map(|r| r.region.as_str()).collect(),
        unmapped: rows.iter().map(|_| Vec::new()).collect(),
        observables: rows
            .iter()
            .map(|r| {
                vec![
                    ("src_endpoint.ip", "IP Address", 2, r.src_ip.clone()),
                    ("actor.user.name", "User Name", 4, r.user.clone()),
                ]
            })
            .collect(),
    };
    let failed = |r: &EksCall| r.code >= 400;
    let groups: Vec<&String> = rows.iter().flat_map(|r| r.groups.iter()).collect();
    let mut cols = common.head()?;
    cols.extend([
        req(
            "api",
            structure(
                vec![
                    req("operation", utf8(rows.iter().map(|r| Some(r.verb)))),
                    req("version", utf8(rows.iter().map(|_| Some("v1")))),
                    req(
                        "request",
                        structure(
                            vec![req("uid", utf8(rows.iter().map(|r| Some(r.resource.1.as_str()))))],
                            None,
                        )?,
                    ),
                    req(
                        "response",
                        structure(
                            vec![
                                req("code", i32s(rows.iter().map(|r| r.code))),
                                opt(
                                    "error",
                                    utf8(rows.iter().map(|r| failed(r).then_some("Forbidden"))),
                                ),
                                opt(
                                    "message",
                                    utf8(rows.iter().map(|r| failed(r).then_some("forbidden: RBAC denied"))),
                                ),
                            ],
                            None,
                        )?,
                    ),
                    req(
                        "group",
                        structure(vec![req("name", utf8(rows.iter().map(|_| Some("core"))))], None)?,
                    ),
                ],
                None,
            )?,
        ),
        req(
            "http_request",
            structure(
                vec![
                    req(
                        "url",
                        structure(
                            vec![req("path", utf8(rows.iter().map(|r| Some(r.path.as_str()))))],
                            None,
                        )?,
                    ),
                    req(
                        "user_agent",
                        utf8(rows.iter().map(|r| Some(r.user_agent.as_str()))),
                    ),
                ],
                None,
            )?,
        ),
        req(
            "actor",
            structure(
                vec![req(
                    "user",
                    structure(
                        vec![
                            req("name", utf8(rows.iter().map(|r| Some(r.user.as_str())))),
                            req("uid", utf8(rows.iter().map(|r| Some(r.user.as_str())))),
                            req(
                                "groups",
                                list(
                                    structure(
                                        vec![req("name", utf8(groups.iter().map(|g| Some(g.as_str()))))],
                                        None,
                                    )?,
                                    rows.iter().map(|r| r.groups.len()),
                                )?,
                            ),
                        ],
                        None,
                    )?,
                )],
                None,
            )?,
        ),
        req(
            "src_endpoint",
            structure(
                vec![req("ip", utf8(rows.iter().map(|r| Some(r.src_ip.as_str()))))],
                None,
            )?,
        ),
        req(
            "resources",
            list(
                structure(
                    vec![
                        req("type", utf8(rows.iter().map(|r| Some(r.resource.0.as_str())))),
                        req("name", utf8(rows.iter().map(|r| Some(r.resource.1.as_str())))),
                        req(
                            "namespace",
                            utf8(rows.iter().map(|r| Some(r.resource.2.as_str()))),
                        ),
                    ],
                    None,
                )?,
                rows.iter().map(|_| 1),
            )?,
        ),
        req("start_time_dt", timestamps(rows.iter().map(|r| Some(r.time)))),
    ]);
    cols.extend(severity(rows.iter().map(|r| if failed(r) { 2 } else { 1 })));
    cols.extend(common.tail()?);
    batch(cols)
}

/// One request AWS WAF saw: HTTP Activity (4002), as Security Lake's `WAF` source maps it.
#[derive(Debug, Clone, Default)]
pub struct WafRequest {
    pub time: i64,
    /// `GET`, `POST`, …
    pub method: &'static str,
    pub hostname: String,
    pub path: String,
    pub src_ip: String,
    pub country: &'static str,
    pub user_agent: String,
    /// The rule that decided, when one did: `(uid, type, condition)`.
    pub rule: Option<(String, &'static str, &'static str)>,
    pub allowed: bool,
    pub status: i32,
    pub account: String,
    pub region: String,
}

pub fn waf_schema() -> SchemaRef {
    waf_batch(&[]).map_or_else(|_| Arc::new(Schema::empty()), |b| b.schema())
}

pub fn waf_batch(rows: &[WafRequest]) -> Result<RecordBatch, ArrowError> {
    // OCSF HTTP Activity: 1 Connect, 2 Delete, 3 Get, 4 Head, 5 Options, 6 Post, 7 Put, 8 Trace.
    let activity = |method: &str| match method {
        "DELETE" => (2, "Delete"),
        "GET" => (3, "Get"),
        "HEAD" => (4, "Head"),
        "OPTIONS" => (5, "Options"),
        "POST" => (6, "Post"),
        "PUT" => (7, "Put"),
        _ => (99, "Other"),
    };
    let common = Common {
        class: (4002, "HTTP Activity"),
        category: (4, "Network Activity"),
        activity: rows.iter().map(|r| activity(r.method)).collect(),
        product: ("AWS WAF", "WAF"),
        times: rows.iter().map(|r| r.time).collect(),
        accounts: rows.iter().map(|r| r.account.as_str()).collect(),
        regions: rows.iter().map(|r| r.region.as_str()).collect(),
        unmapped: rows.iter().map(|_| Vec::new()).collect(),
        observables: rows
            .iter()
            .map(|r| vec![("src_endpoint.ip", "IP Address", 2, r.src_ip.clone())])
            .collect(),
    };
    let ruled = || rows.iter().map(|r| r.rule.is_some());
    let mut cols = common.head()?;
    cols.extend([
        req(
            "src_endpoint",
            structure(
                vec![
                    req("ip", utf8(rows.iter().map(|r| Some(r.src_ip.as_str())))),
                    req(
                        "location",
                        structure(
                            vec![req("country", utf8(rows.iter().map(|r| Some(r.country))))],
                            None,
                        )?,
                    ),
                ],
                None,
            )?,
        ),
        req(
            "http_request",
            structure(
                vec![
                    req(
                        "url",
                        structure(
                            vec![
                                req("path", utf8(rows.iter().map(|r| Some(r.path.as_str())))),
                                req("hostname", utf8(rows.iter().map(|r| Some(r.hostname.as_str())))),
                            ],
                            None,
                        )?,
                    ),
                    req("version", utf8(rows.iter().map(|_| Some("HTTP/1.1")))),
                    req("http_method", utf8(rows.iter().map(|r| Some(r.method)))),
                    req(
                        "http_headers",
                        list(
                            structure(
                                vec![
                                    req("name", utf8(rows.iter().map(|_| Some("host")))),
                                    req("value", utf8(rows.iter().map(|r| Some(r.hostname.as_str())))),
                                ],
                                None,
                            )?,
                            rows.iter().map(|_| 1),
                        )?,
                    ),
                    req(
                        "user_agent",
                        utf8(rows.iter().map(|r| Some(r.user_agent.as_str()))),
                    ),
                ],
                None,
            )?,
        ),
        opt(
            "firewall_rule",
            structure(
                vec![
                    req(
                        "uid",
                        utf8(rows.iter().map(|r| r.rule.as_ref().map(|x| x.0.as_str()))),
                    ),
                    req("type", utf8(rows.iter().map(|r| r.rule.as_ref().map(|x| x.1)))),
                    req(
                        "condition",
                        utf8(rows.iter().map(|r| r.rule.as_ref().map(|x| x.2))),
                    ),
                    opt(
                        "match_location",
                        utf8(rows.iter().map(|r| r.rule.as_ref().map(|_| "URI"))),
                    ),
                    opt(
                        "match_details",
                        list(
                            utf8(
                                rows.iter()
                                    .filter(|r| r.rule.is_some())
                                    .map(|r| Some(r.path.as_str())),
                            ),
                            ruled().map(usize::from),
                        )?,
                    ),
                    opt(
                        "rate_limit",
                        Arc::new(rows.iter().map(|_| None::<i32>).collect::<Int32Array>()) as ArrayRef,
                    ),
                ],
                super::ocsf::nulls_where(ruled()),
            )?,
        ),
        req("http_status", i32s(rows.iter().map(|r| r.status))),
        req(
            "action",
            utf8(
                rows.iter()
                    .map(|r| Some(if r.allowed { "Allowed" } else { "Denied" })),
            ),
        ),
        req(
            "action_id",
            i32s(rows.iter().map(|r| if r.allowed { 1 } else { 2 })),
        ),
        req(
            "disposition",
            utf8(
                rows.iter()
                    .map(|r| Some(if r.allowed { "Allowed" } else { "Blocked" })),
            ),
        ),
        req(
            "disposition_id",
            i32s(rows.iter().map(|r| if r.allowed { 1 } else { 2 })),
        ),
    ]);
    cols.extend(severity(rows.iter().map(|r| if r.allowed { 1 } else { 3 })));
    cols.extend(common.tail()?);
    batch(cols)
}
