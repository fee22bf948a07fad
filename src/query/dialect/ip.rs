//! `contains(cidr, CAST(ip AS IPADDRESS))`, Trino's test of an address against a network, for
//! IPv4 and IPv6. The translation layer rewrites it to `irp_cidr_contains(cidr, ip)`; inside
//! `TRY(…)` (or with `TRY_CAST`) to `irp_try_cidr_contains`, which gives NULL for text that is not
//! an address instead of failing the query, as Trino's TRY does.

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// A network in CIDR form: `10.0.0.0/8`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.trim().split_once('/')?;
        let network: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// Whether `ip` is inside. An IPv4 address and an IPv6 network (or the reverse) compare as
    /// Trino does, through the IPv4-mapped IPv6 form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, prefix) = match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (
                u128::from(u32::from(n)) << 96,
                u128::from(u32::from(i)) << 96,
                u32::from(self.prefix),
            ),
            (n, i) => (
                to_v6(n),
                to_v6(i),
                u32::from(self.prefix) + if self.network.is_ipv4() { 96 } else { 0 },
            ),
        };
        if prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - prefix);
        net & mask == ip & mask
    }
}

fn to_v6(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CidrContains {
    tolerant: bool,
    signature: Signature,
}

impl CidrContains {
    fn new(tolerant: bool) -> CidrContains {
        CidrContains {
            tolerant,
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CidrContains {
    fn name(&self) -> &'static str {
        if self.tolerant {
            "irp_try_cidr_contains"
        } else {
            "irp_cidr_contains"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let text = |i: usize| -> datafusion::error::Result<_> {
            Ok(datafusion::arrow::compute::cast(
                &args.args[i].to_array(rows)?,
                &DataType::Utf8,
            )?)
        };
        let (cidrs, ips) = (text(0)?, text(1)?);
        let (cidrs, ips) = (cidrs.as_string::<i32>(), ips.as_string::<i32>());
        let mut last: Option<(String, Cidr)> = None;
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if cidrs.is_null(i) || ips.is_null(i) {
                out.push(None);
                continue;
            }
            let c = cidrs.value(i);
            let cidr = match &last {
                Some((t, cidr)) if t == c => *cidr,
                _ => {
                    let cidr = Cidr::parse(c).ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "contains: `{c}` is not a network in CIDR form such as 10.0.0.0/8"
                        ))
                    })?;
                    last = Some((c.to_owned(), cidr));
                    cidr
                }
            };
            match ips.value(i).trim().parse::<IpAddr>() {
                Ok(ip) => out.push(Some(cidr.contains(ip))),
                Err(_) if self.tolerant => out.push(None),
                Err(_) => {
                    return Err(DataFusionError::Execution(format!(
                        "Cannot cast value to IPADDRESS: `{}` (wrap the cast in TRY(...) to skip values that are not addresses)",
                        ips.value(i)
                    )));
                }
            }
        }
        super::columnar(&args.args, Arc::new(BooleanArray::from(out)))
    }
}

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(CidrContains::new(false)),
        ScalarUDF::from(CidrContains::new(true)),
    ]
}
