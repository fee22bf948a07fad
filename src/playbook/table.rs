//! Logical Security Lake tables: the names playbooks use, and the Security Lake names that a
//! backend resolves them to (`amazon_security_lake_glue_db_<region>` .
//! `amazon_security_lake_table_<region>_<source>_<major>_<minor>`).

use std::fmt;

/// A Security Lake source, by the name playbooks use in `table:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogicalTable {
    /// `CloudTrail` management events (API Activity 6003, Authentication 3002, Account Change 3001).
    CloudTrailMgmt,
    /// `CloudTrail` S3 data events (object-level API Activity).
    S3Data,
    /// VPC Flow Logs (Network Activity 4001).
    VpcFlow,
    /// Route 53 Resolver query logs (DNS Activity 4003).
    Route53,
    /// Security Hub findings (Detection / Compliance / Vulnerability Finding).
    ShFindings,
    /// `CloudTrail` Lambda data events.
    LambdaExecution,
    /// EKS audit logs (source version 2 only).
    EksAudit,
    /// AWS `WAFv2` logs (source version 2 only).
    Waf,
}

impl LogicalTable {
    pub const ALL: [LogicalTable; 8] = [
        LogicalTable::CloudTrailMgmt,
        LogicalTable::S3Data,
        LogicalTable::VpcFlow,
        LogicalTable::Route53,
        LogicalTable::ShFindings,
        LogicalTable::LambdaExecution,
        LogicalTable::EksAudit,
        LogicalTable::Waf,
    ];

    /// The name in playbooks, which is also the source part of the Security Lake table name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogicalTable::CloudTrailMgmt => "cloud_trail_mgmt",
            LogicalTable::S3Data => "s3_data",
            LogicalTable::VpcFlow => "vpc_flow",
            LogicalTable::Route53 => "route53",
            LogicalTable::ShFindings => "sh_findings",
            LogicalTable::LambdaExecution => "lambda_execution",
            LogicalTable::EksAudit => "eks_audit",
            LogicalTable::Waf => "waf",
        }
    }

    pub fn parse(name: &str) -> Option<LogicalTable> {
        LogicalTable::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// `amazon_security_lake_glue_db_us_east_1` for region `us-east-1`.
    pub fn database_name(region: &str) -> String {
        format!("amazon_security_lake_glue_db_{}", region.replace('-', "_"))
    }

    /// `amazon_security_lake_table_us_east_1_s3_data_2_0` for region `us-east-1`, source version 2.0.
    pub fn table_name(self, region: &str, version: (u32, u32)) -> String {
        format!(
            "amazon_security_lake_table_{}_{}_{}_{}",
            region.replace('-', "_"),
            self.as_str(),
            version.0,
            version.1
        )
    }
}

impl fmt::Display for LogicalTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
