//! Dispatch help: rules by category × region to a department, and the top-3 department
//! suggestions ranked from the rules and from past tickets of the same category, region and
//! key words (character bigrams, which suit Chinese text without a segmenter).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::Db;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Suggestion {
    pub department_id: String,
    pub name: String,
    pub score: f64,
    /// Why: `rule`, `same_category_region`, `same_category`, `keywords`.
    pub reasons: Vec<String>,
}

/// The department a rule assigns: the longest category prefix, then the longest region prefix.
pub async fn rule_department(
    db: &Db,
    category: &str,
    region: &str,
) -> Result<Option<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT category_prefix, region_prefix, department_id, priority FROM dispatch_rules",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut best: Option<((usize, usize, i64), String)> = None;
    for r in rows {
        let (c, g, d, p): (String, String, String, i64) = (
            r.try_get("category_prefix")?,
            r.try_get("region_prefix")?,
            r.try_get("department_id")?,
            r.try_get("priority")?,
        );
        if category.starts_with(&c) && region.starts_with(&g) {
            let key = (c.len(), g.len(), p);
            if best.as_ref().is_none_or(|(k, _)| key > *k) {
                best = Some((key, d));
            }
        }
    }
    Ok(best.map(|(_, d)| d))
}

/// Character bigrams of the CJK and alphanumeric runs of `text` (bounded).
pub fn bigrams(text: &str) -> HashSet<String> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(2_000)
        .collect();
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

/// Up to 3 departments for a ticket, best first.
pub async fn suggest(
    db: &Db,
    category: &str,
    region: &str,
    text: &str,
) -> Result<Vec<Suggestion>, sqlx::Error> {
    let mut scores: HashMap<String, (f64, Vec<String>)> = HashMap::new();
    let mut add = |d: String, s: f64, why: &str| {
        let e = scores.entry(d).or_insert((0.0, Vec::new()));
        e.0 += s;
        if !e.1.iter().any(|w| w == why) {
            e.1.push(why.to_string());
        }
    };
    if let Some(d) = rule_department(db, category, region).await? {
        add(d, 10.0, "rule");
    }
    if !category.is_empty() {
        // Recent handled tickets of the same category; not those returned by the department.
        let rows = sqlx::query(
            "SELECT lead_dept, region_code, title, content FROM tickets
             WHERE category_code = $1 AND lead_dept IS NOT NULL AND status IN ('reviewing', 'closed', 'archived')
             ORDER BY created_ms DESC LIMIT 500",
        )
        .bind(category)
        .fetch_all(&db.pool)
        .await?;
        let words = bigrams(text);
        for r in rows {
            let (dept, reg, title, content): (String, String, String, String) = (
                r.try_get("lead_dept")?,
                r.try_get("region_code")?,
                r.try_get("title")?,
                r.try_get("content")?,
            );
            if !region.is_empty() && reg.starts_with(region) {
                add(dept.clone(), 1.0, "same_category_region");
            } else {
                add(dept.clone(), 0.3, "same_category");
            }
            if !words.is_empty() {
                let theirs = bigrams(&format!("{title}{content}"));
                let overlap = words.intersection(&theirs).count() as f64 / words.len() as f64;
                if overlap > 0.2 {
                    add(dept, 2.0 * overlap, "keywords");
                }
            }
        }
    }
    let mut ranked: Vec<(String, f64, Vec<String>)> =
        scores.into_iter().map(|(d, (s, w))| (d, s, w)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(3);
    let mut out = Vec::with_capacity(ranked.len());
    for (d, score, reasons) in ranked {
        let name = super::catalogue::department(db, &d)
            .await?
            .map(|x| x.name)
            .unwrap_or_default();
        out.push(Suggestion {
            department_id: d,
            name,
            score: (score * 100.0).round() / 100.0,
            reasons,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigrams_of_chinese_text() {
        let b = bigrams("路灯不亮，请修理");
        assert!(b.contains("路灯") && b.contains("不亮") && b.contains("修理"));
        assert!(!b.iter().any(|w| w.contains('，')));
        assert!(bigrams("灯").is_empty());
    }
}
