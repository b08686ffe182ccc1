//! Catalogues: the region tree (4 levels), the category tree (5 levels), departments in their
//! hierarchy, and dispatch rules; loading the seed file and reading them back.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::store::Db;

/// The sample catalogue shipped with the binary.
pub const SEED: &str = include_str!("../../data-seed/catalogue.toml");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Region {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub level: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Category {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub level: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Department {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    pub level: i64,
    pub region: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DispatchRule {
    pub category: String,
    pub region: String,
    pub department: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub regions: Vec<Region>,
    pub categories: Vec<Category>,
    pub departments: Vec<Department>,
    #[serde(default)]
    pub rules: Vec<DispatchRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue file: {0}")]
    Parse(String),
    #[error("catalogue: {0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

impl Catalogue {
    /// Parses and checks a catalogue: levels within bounds, parents known and one level up.
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let c: Catalogue =
            toml::from_str(text).map_err(|e| CatalogueError::Parse(e.to_string()))?;
        let bad = |s: String| Err(CatalogueError::Invalid(s));
        let check_tree = |what: &str,
                          items: Vec<(&str, Option<&str>, i64)>,
                          max: i64|
         -> Result<(), CatalogueError> {
            let levels: std::collections::HashMap<&str, i64> =
                items.iter().map(|(c, _, l)| (*c, *l)).collect();
            if levels.len() != items.len() {
                return Err(CatalogueError::Invalid(format!("{what}: duplicate code")));
            }
            for (code, parent, level) in &items {
                if !(1..=max).contains(level) {
                    return Err(CatalogueError::Invalid(format!(
                        "{what} {code}: level {level} outside 1..={max}"
                    )));
                }
                match parent {
                    None if *level != 1 => {
                        return Err(CatalogueError::Invalid(format!("{what} {code}: no parent")))
                    }
                    Some(p) if levels.get(p).is_none_or(|pl| *pl >= *level) => {
                        return Err(CatalogueError::Invalid(format!(
                            "{what} {code}: parent {p} unknown or not above it"
                        )))
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        check_tree(
            "region",
            c.regions
                .iter()
                .map(|r| (r.code.as_str(), r.parent.as_deref(), r.level))
                .collect(),
            4,
        )?;
        check_tree(
            "category",
            c.categories
                .iter()
                .map(|r| (r.code.as_str(), r.parent.as_deref(), r.level))
                .collect(),
            5,
        )?;
        for r in c.regions.iter().filter(|r| r.parent.is_some()) {
            if !r.code.starts_with(r.parent.as_deref().unwrap_or("")) {
                return bad(format!(
                    "region {}: a code must extend its parent's",
                    r.code
                ));
            }
        }
        for r in c.categories.iter().filter(|r| r.parent.is_some()) {
            if !r.code.starts_with(r.parent.as_deref().unwrap_or("")) {
                return bad(format!(
                    "category {}: a code must extend its parent's",
                    r.code
                ));
            }
        }
        let ids: std::collections::HashSet<&str> =
            c.departments.iter().map(|d| d.id.as_str()).collect();
        for d in &c.departments {
            if !(1..=4).contains(&d.level) {
                return bad(format!("department {}: level outside 1..=4", d.id));
            }
            if let Some(p) = &d.parent {
                if !ids.contains(p.as_str()) {
                    return bad(format!("department {}: unknown parent {p}", d.id));
                }
            }
        }
        for r in &c.rules {
            if !ids.contains(r.department.as_str()) {
                return bad(format!(
                    "rule for {}: unknown department {}",
                    r.category, r.department
                ));
            }
        }
        Ok(c)
    }

    /// Inserts the catalogue (rows already present are left alone).
    pub async fn load(&self, db: &Db) -> Result<(), CatalogueError> {
        let mut tx = db.pool.begin().await?;
        for r in &self.regions {
            sqlx::query("INSERT INTO regions (code, name, parent_code, level) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING")
                .bind(&r.code)
                .bind(&r.name)
                .bind(&r.parent)
                .bind(r.level)
                .execute(&mut *tx)
                .await?;
        }
        for r in &self.categories {
            sqlx::query("INSERT INTO categories (code, name, parent_code, level) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING")
                .bind(&r.code)
                .bind(&r.name)
                .bind(&r.parent)
                .bind(r.level)
                .execute(&mut *tx)
                .await?;
        }
        for d in &self.departments {
            sqlx::query(
                "INSERT INTO departments (id, name, parent_id, level, region_code) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.parent)
            .bind(d.level)
            .bind(&d.region)
            .execute(&mut *tx)
            .await?;
        }
        for (i, r) in self.rules.iter().enumerate() {
            sqlx::query(
                "INSERT INTO dispatch_rules (id, category_prefix, region_prefix, department_id, priority) VALUES ($1, $2, $3, $4, 0)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(format!("seed-{i}"))
            .bind(&r.category)
            .bind(&r.region)
            .bind(&r.department)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Loads the shipped sample catalogue.
pub async fn load_seed(db: &Db) -> Result<(), CatalogueError> {
    Catalogue::parse(SEED)?.load(db).await
}

pub async fn regions(db: &Db, parent: Option<&str>) -> Result<Vec<Region>, sqlx::Error> {
    let rows = match parent {
        Some(p) => {
            sqlx::query("SELECT code, name, parent_code, level FROM regions WHERE parent_code = $1 ORDER BY code").bind(p).fetch_all(&db.pool).await?
        }
        None => sqlx::query("SELECT code, name, parent_code, level FROM regions ORDER BY code").fetch_all(&db.pool).await?,
    };
    rows.iter()
        .map(|r| {
            Ok(Region {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                parent: r.try_get("parent_code")?,
                level: r.try_get("level")?,
            })
        })
        .collect()
}

pub async fn categories(db: &Db, parent: Option<&str>) -> Result<Vec<Category>, sqlx::Error> {
    let rows = match parent {
        Some(p) => sqlx::query("SELECT code, name, parent_code, level FROM categories WHERE parent_code = $1 AND enabled = 1 ORDER BY code")
            .bind(p)
            .fetch_all(&db.pool)
            .await?,
        None => sqlx::query("SELECT code, name, parent_code, level FROM categories WHERE enabled = 1 ORDER BY code").fetch_all(&db.pool).await?,
    };
    rows.iter()
        .map(|r| {
            Ok(Category {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                parent: r.try_get("parent_code")?,
                level: r.try_get("level")?,
            })
        })
        .collect()
}

fn row_dept(r: &sqlx::any::AnyRow) -> Result<Department, sqlx::Error> {
    Ok(Department {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        parent: r.try_get("parent_id")?,
        level: r.try_get("level")?,
        region: r.try_get("region_code")?,
    })
}

pub async fn departments(db: &Db) -> Result<Vec<Department>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, name, parent_id, level, region_code FROM departments WHERE enabled = 1 ORDER BY level, id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(row_dept).collect()
}

pub async fn department(db: &Db, id: &str) -> Result<Option<Department>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, parent_id, level, region_code FROM departments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(row_dept).transpose()
}

/// The ancestors of a department, nearest first (bounded: the hierarchy has 4 levels).
pub async fn ancestors(db: &Db, id: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::new();
    let mut cur = department(db, id).await?.and_then(|d| d.parent);
    while let Some(p) = cur {
        if out.len() >= 8 || out.contains(&p) {
            break;
        }
        cur = department(db, &p).await?.and_then(|d| d.parent);
        out.push(p);
    }
    Ok(out)
}

/// The intermediate units a dispatch to `lead` passes (county / street levels above it, top
/// first): what "dispatch down several levels at once" creates tickets for.
pub async fn dispatch_path(db: &Db, lead: &str) -> Result<Vec<String>, sqlx::Error> {
    let mut path = Vec::new();
    for a in ancestors(db, lead).await? {
        match department(db, &a).await? {
            Some(d) if d.level >= 3 => path.push(d.id),
            _ => break,
        }
    }
    path.reverse();
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_catalogue_is_valid() {
        let c = Catalogue::parse(SEED).unwrap();
        assert!(c.categories.iter().any(|x| x.level == 5));
        assert!(c.regions.iter().any(|x| x.level == 4));
        assert!(c.departments.iter().any(|x| x.level == 4));
    }

    #[test]
    fn bad_catalogues_are_refused() {
        let no_parent = "regions = [{ code = \"61\", name = \"x\", level = 2 }]\ncategories = []\ndepartments = []\n";
        assert!(Catalogue::parse(no_parent)
            .unwrap_err()
            .to_string()
            .contains("no parent"));
        let bad_code = "regions = [{ code = \"61\", name = \"x\", level = 1 }, { code = \"62\", name = \"y\", parent = \"61\", level = 2 }]\ncategories = []\ndepartments = []\n";
        assert!(Catalogue::parse(bad_code)
            .unwrap_err()
            .to_string()
            .contains("extend"));
        let deep = "regions = []\ncategories = [{ code = \"01\", name = \"x\", level = 6 }]\ndepartments = []\n";
        assert!(Catalogue::parse(deep).is_err());
        let rule = "regions = []\ncategories = []\ndepartments = []\nrules = [{ category = \"01\", region = \"\", department = \"X\" }]\n";
        assert!(Catalogue::parse(rule)
            .unwrap_err()
            .to_string()
            .contains("unknown department"));
        assert!(matches!(
            Catalogue::parse("regions = 3"),
            Err(CatalogueError::Parse(_))
        ));
    }
}
