//! IAM and bucket policy documents as irp changes them: the deny-all and revoke-sessions
//! documents, the deny statements merged into a bucket policy (never replacing it), a principal
//! taken out of a trust policy, and the line diff shown before a change is confirmed. Pure
//! functions over JSON: the calls that read and write the documents are in `aws`.

use serde_json::{Value, json};

/// The inline policy `iam.put_user_deny_all_policy` attaches.
pub fn deny_all() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Sid": "IrpDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*" }]
    })
}

/// The inline policy the console's "Revoke active sessions" attaches: every session of the role
/// issued before `now` (RFC 3339, UTC, to the second) is denied everything.
pub fn revoke_older_sessions(now: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": { "DateLessThan": { "aws:TokenIssueTime": now } }
        }]
    })
}

/// Whether `doc` is a revoke-older-sessions policy (any cut-off time).
pub fn is_revoke_older_sessions(doc: &Value) -> bool {
    statements(doc).iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && s.pointer("/Condition/DateLessThan/aws:TokenIssueTime").is_some()
    })
}

/// What a bucket deny names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DenyTargets {
    pub principal_arns: Vec<String>,
    pub account_ids: Vec<String>,
    pub source_ips: Vec<String>,
}

/// The `aws:PrincipalArn` of an assumed-role session is its role's ARN, so a session ARN
/// (`arn:aws:sts::A:assumed-role/R/S`) is denied through its role (`arn:aws:iam::A:role/R`).
/// Returns the ARN to use and, when it differs, why.
pub fn principal_arn_for_condition(arn: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6
        && parts[2] == "sts"
        && let Some(rest) = parts[5].strip_prefix("assumed-role/")
    {
        let role = rest.split('/').next().unwrap_or(rest);
        let role_arn = format!("arn:{}:iam::{}:role/{role}", parts[1], parts[4]);
        let why = format!(
            "{arn} is a role session; aws:PrincipalArn holds its role, so the deny names {role_arn} (every session of the role)"
        );
        return (role_arn, Some(why));
    }
    (arn.to_owned(), None)
}

/// The deny statements `s3.add_bucket_policy_deny` adds, one per kind of target, with Sids
/// derived from `tag` (the step) so that running it again finds its own statements.
pub fn bucket_deny_statements(bucket: &str, targets: &DenyTargets, tag: &str) -> (Vec<Value>, Vec<String>) {
    let resources = json!([
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{bucket}/*")
    ]);
    let sid_tag: String = tag.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut add = |kind: &str, operator: &str, key: &str, values: Vec<String>| {
        if values.is_empty() {
            return;
        }
        out.push(json!({
            "Sid": format!("IrpDeny{kind}{sid_tag}"),
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources.clone(),
            "Condition": { operator: { key: values } }
        }));
    };
    let mut arns = Vec::new();
    for a in &targets.principal_arns {
        let (arn, why) = principal_arn_for_condition(a);
        notes.extend(why);
        if !arns.contains(&arn) {
            arns.push(arn);
        }
    }
    add("Principals", "ArnEquals", "aws:PrincipalArn", arns);
    add(
        "Accounts",
        "StringEquals",
        "aws:PrincipalAccount",
        targets.account_ids.clone(),
    );
    add(
        "SourceIps",
        "IpAddress",
        "aws:SourceIp",
        targets.source_ips.clone(),
    );
    (out, notes)
}

/// A policy's statements as a list (`Statement` may be one object).
pub fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// `existing` with `new` appended, every existing statement and top-level key kept as it was.
/// A statement already there with the same Sid and content is not added twice; one with the
/// same Sid and other content is an error (someone changed irp's statement).
pub fn merge_statements(existing: Option<&Value>, new: &[Value]) -> Result<Value, String> {
    let mut doc = match existing {
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(other) => return Err(format!("the existing policy is not a JSON object: {other}")),
        None => json!({ "Version": "2012-10-17" }),
    };
    let mut list = statements(&doc);
    for s in new {
        let sid = s.get("Sid");
        match list.iter().find(|x| sid.is_some() && x.get("Sid") == sid) {
            Some(same) if same == s => {}
            Some(other) => {
                return Err(format!(
                    "the policy already has a statement with Sid {} that differs from irp's: {other}",
                    sid.map(Value::to_string).unwrap_or_default()
                ));
            }
            None => list.push(s.clone()),
        }
    }
    doc["Statement"] = Value::Array(list);
    Ok(doc)
}

/// Whether every statement of `before` is still in `after` (the merge kept them all).
pub fn keeps_statements(before: Option<&Value>, after: &Value) -> bool {
    let after = statements(after);
    before.is_none_or(|b| statements(b).iter().all(|s| after.contains(s)))
}

/// Whether `doc` holds every one of `wanted`.
pub fn has_statements(doc: &Value, wanted: &[Value]) -> bool {
    let have = statements(doc);
    wanted.iter().all(|s| have.contains(s))
}

/// Whether a principal value (an ARN, an account id, a service) names `principal`. An account
/// id and its root ARN name the same principal.
fn same_principal(value: &str, principal: &str) -> bool {
    let root = |v: &str| -> Option<String> {
        let parts: Vec<&str> = v.split(':').collect();
        (parts.len() == 6 && parts[2] == "iam" && parts[5] == "root").then(|| parts[4].to_owned())
    };
    value == principal
        || root(value).is_some_and(|a| a == principal)
        || root(principal).is_some_and(|a| a == value)
}

/// Which statements a principal is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statements {
    All,
    /// `Allow` statements only: taking a principal out of a `Deny` would open what it closes.
    Allow,
}

impl Statements {
    fn holds(self, s: &Value) -> bool {
        self == Statements::All || s.get("Effect").and_then(Value::as_str) == Some("Allow")
    }
}

/// The statements of `doc` without the principals `matches` holds for (in the statements `which`
/// takes in), a statement left with no principal dropped, and how many mentions were removed.
fn strip_principals(doc: &Value, which: Statements, matches: &dyn Fn(&str) -> bool) -> (Vec<Value>, usize) {
    let mut removed = 0;
    let mut kept = Vec::new();
    for mut s in statements(doc) {
        let mut empty = false;
        let looked_in = which.holds(&s);
        if looked_in && let Some(Value::Object(p)) = s.get_mut("Principal") {
            for v in p.values_mut() {
                match v {
                    Value::String(x) if matches(x) => {
                        removed += 1;
                        *v = Value::Null;
                    }
                    Value::Array(list) => {
                        let n = list.len();
                        list.retain(|x| !x.as_str().is_some_and(matches));
                        removed += n - list.len();
                        if list.is_empty() {
                            *v = Value::Null;
                        } else if list.len() == 1 {
                            *v = list[0].clone();
                        }
                    }
                    _ => {}
                }
            }
            p.retain(|_, v| !v.is_null());
            empty = p.is_empty();
        }
        if !empty {
            kept.push(s);
        }
    }
    (kept, removed)
}

/// Whether a statement `which` takes in names a principal `matches` holds for.
fn names(doc: &Value, which: Statements, matches: &dyn Fn(&str) -> bool) -> bool {
    statements(doc).iter().any(|s| {
        which.holds(s)
            && match s.get("Principal") {
                Some(Value::Object(p)) => p.values().any(|v| match v {
                    Value::String(x) => matches(x),
                    Value::Array(list) => list.iter().any(|x| x.as_str().is_some_and(matches)),
                    _ => false,
                }),
                _ => false,
            }
    })
}

/// `doc` with `kept` as its statements.
fn with_statements(doc: &Value, kept: Vec<Value>) -> Value {
    let mut out = doc.clone();
    out["Statement"] = Value::Array(kept);
    out
}

/// The trust policy without `principal`, and how many mentions were removed. A statement left
/// with no principal is dropped; removing the last statement is refused (a trust policy must
/// allow someone; delete the role instead).
pub fn remove_principal(doc: &Value, principal: &str) -> Result<(Value, usize), String> {
    let (kept, removed) = strip_principals(doc, Statements::All, &|x| same_principal(x, principal));
    if removed == 0 {
        return Err(format!("`{principal}` is not a principal of the trust policy"));
    }
    if kept.is_empty() {
        return Err(format!(
            "`{principal}` is the only principal of the trust policy; removing it would leave a policy that trusts no one (IAM refuses that): delete or replace the role instead"
        ));
    }
    Ok((with_statements(doc, kept), removed))
}

/// Whether a principal value belongs to account `account`: the id itself, or an IAM or STS ARN
/// in it (its root, a user, a role, a role session).
pub fn of_account(value: &str, account: &str) -> bool {
    value == account || {
        let parts: Vec<&str> = value.split(':').collect();
        parts.len() == 6 && parts[0] == "arn" && matches!(parts[2], "iam" | "sts") && parts[4] == account
    }
}

/// The bucket policy without any principal of account `account` in its `Allow` statements (a
/// statement left with no principal is dropped), and how many mentions were removed; `None` for
/// the document when no statement is left (the policy is to be deleted). `Deny` statements are
/// never touched: removing an account from one would open what it closes.
pub fn remove_account_grants(doc: &Value, account: &str) -> Result<(Option<Value>, usize), String> {
    let (kept, removed) = strip_principals(doc, Statements::Allow, &|x| of_account(x, account));
    if removed == 0 {
        return Err(format!(
            "no Allow statement of the policy names account {account}"
        ));
    }
    Ok(((!kept.is_empty()).then(|| with_statements(doc, kept)), removed))
}

/// Whether an `Allow` statement of the policy still names a principal of account `account`.
pub fn grants_account(doc: &Value, account: &str) -> bool {
    names(doc, Statements::Allow, &|x| of_account(x, account))
}

/// The principals an `Allow` statement of the bucket policy lets in from outside `accounts`: an
/// IAM or STS principal (or bare account id) of another account, and `*` in a statement without
/// a `Condition` (one with a condition, `aws:SourceVpce` say, is narrowed by it). Service and
/// federated principals are not accounts and are left out. Sorted, each once.
pub fn outside_grants(doc: &Value, accounts: &[String]) -> Vec<String> {
    let inside = |v: &str| accounts.iter().any(|a| of_account(v, a));
    let mut out = Vec::new();
    for s in statements(doc) {
        if !Statements::Allow.holds(&s) {
            continue;
        }
        let conditioned = s.get("Condition").is_some_and(|c| !c.is_null());
        let mut values: Vec<String> = Vec::new();
        match s.get("Principal") {
            Some(Value::String(x)) => values.push(x.clone()),
            Some(Value::Object(p)) => {
                if let Some(v) = p.get("AWS") {
                    match v {
                        Value::String(x) => values.push(x.clone()),
                        Value::Array(list) => {
                            values.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        for v in values {
            let outside = if v == "*" { !conditioned } else { !inside(&v) };
            if outside && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out.sort();
    out
}

/// Whether `principal` is still named anywhere in the trust policy.
pub fn names_principal(doc: &Value, principal: &str) -> bool {
    names(doc, Statements::All, &|x| same_principal(x, principal))
}

/// A line diff of two JSON documents, pretty-printed: `-` removed, `+` added, two spaces kept.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> String {
    let text = |v: Option<&Value>| {
        v.map_or_else(
            || "(none)".to_owned(),
            |v| serde_json::to_string_pretty(v).unwrap_or_default(),
        )
    };
    let (a, b) = (text(before), text(after));
    diff_lines(&a, &b)
}

/// A line diff by longest common subsequence (documents here are small).
pub fn diff_lines(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push_str("  ");
            out.push_str(old[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str("- ");
            out.push_str(old[i]);
            i += 1;
        } else {
            out.push_str("+ ");
            out.push_str(new[j]);
            j += 1;
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::outside_grants;
    use serde_json::json;

    #[test]
    fn outside_grants_are_other_accounts_and_unconditioned_stars_in_allow_statements() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "444455556666",
                "arn:aws:sts::999988887777:assumed-role/r/s"]}, "Action": "s3:GetObject"},
            {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject"},
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:ListBucket"},
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::777766665555:root"}, "Action": "s3:*"}
        ]});
        assert_eq!(
            outside_grants(&doc, &["111122223333".to_owned()]),
            ["*", "444455556666", "arn:aws:sts::999988887777:assumed-role/r/s"]
        );
        assert_eq!(
            outside_grants(
                &doc,
                &[
                    "111122223333".to_owned(),
                    "444455556666".to_owned(),
                    "999988887777".to_owned()
                ]
            ),
            ["*"]
        );
    }
}
