//! Knowledge base (知识库): articles with a review workflow and Chinese full-text search.
//!
//! Workflow: draft → review (submit) → published (approve, by a reviewer other than the author)
//! or back to draft (reject); published → retired (下架); published or retired → draft (revise,
//! a new version). Every step is kept in `kb_history` with the text of that version.
//! Search: titles and bodies are segmented into words with jieba and stored space-separated,
//! in SQLite FTS5 (bm25) or a PostgreSQL tsvector (ts_rank); only published articles are in
//! the index. Results are ranked and carry a snippet with `<mark>` highlights.
//! Synonyms (同义词, source B1 L3153: main word ↔ associated words, applied at search time) widen
//! each query word to its group, so 社保 also finds articles that only say 社会保险.

use std::sync::OnceLock;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::lifecycle::Refusal;
use super::model::{Actor, Role};
use super::store::{Result, TicketError};
use crate::store::{Backend, Db};

fn jieba() -> &'static Jieba {
    static J: OnceLock<Jieba> = OnceLock::new();
    J.get_or_init(Jieba::new)
}

/// Words of `text` for indexing and querying: jieba's search-mode cut (long words and their
/// parts), lower-cased, punctuation dropped, space-separated. Bounded to 200,000 characters.
pub fn segment(text: &str) -> String {
    let text: String = text.chars().take(200_000).collect();
    jieba()
        .cut_for_search(&text, true)
        .into_iter()
        .filter(|w| w.chars().any(|c| c.is_alphanumeric()))
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word as the index stores it: lower-case letters and digits only.
fn normalize_word(w: &str) -> String {
    w.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The index tokens a synonym must all match: jieba's precise cut, so a phrase it splits
/// (医保 卡) becomes an AND of its words rather than one token the index never saw.
fn synonym_tokens(w: &str) -> Vec<String> {
    let mut out: Vec<String> = jieba()
        .cut(w, true)
        .into_iter()
        .map(normalize_word)
        .filter(|t| !t.is_empty())
        .collect();
    out.dedup();
    out
}

/// Question and function words citizens and agents type around the matter itself (如何补办社保卡,
/// 社保卡怎么补办); they match nothing useful and only widen what must be ranked. Query side only.
const QUERY_STOP_WORDS: [&str; 24] = [
    "怎么",
    "怎样",
    "怎么样",
    "如何",
    "什么",
    "哪里",
    "哪儿",
    "请问",
    "吗",
    "呢",
    "吧",
    "啊",
    "的",
    "了",
    "是",
    "我",
    "我们",
    "你",
    "你们",
    "可以",
    "能不能",
    "能否",
    "一下",
    "想",
];

/// The distinct words of a query (at most 16), without stop words unless nothing else is left.
fn query_words(query: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for w in segment(query).split(' ').filter(|w| !w.is_empty()) {
        if !seen.iter().any(|s| s == w) && seen.len() < 16 {
            seen.push(w.to_string());
        }
    }
    let content: Vec<String> = seen
        .iter()
        .filter(|w| !QUERY_STOP_WORDS.contains(&w.as_str()))
        .cloned()
        .collect();
    if content.is_empty() {
        seen
    } else {
        content
    }
}

/// Below this many published articles word statistics mean little, so nothing is pruned.
const PRUNE_MIN_ARTICLES: i64 = 20;

/// Drops the words more than half of the `n` articles contain (`df`: word → article count),
/// keeping the others; keeps everything when nothing else would be left. bm25 gives such words
/// no weight (FTS5 clamps their IDF to ~0), yet they match nearly every article, so ranking them
/// is most of a search's work (办理 in a government knowledge base).
fn prune(words: Vec<String>, df: &[(String, i64)], n: i64) -> Vec<String> {
    if n < PRUNE_MIN_ARTICLES {
        return words;
    }
    let common = |w: &String| df.iter().any(|(t, d)| t == w && d * 2 > n);
    let kept: Vec<String> = words.iter().filter(|w| !common(w)).cloned().collect();
    if kept.is_empty() {
        words
    } else {
        kept
    }
}

/// A synonym group: the main word and its associated words.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SynonymGroup {
    pub main: String,
    pub words: Vec<String>,
}

/// Removes the spaces segmentation put between CJK words (and around highlight tags).
fn despace(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let prev = i
                .checked_sub(1)
                .and_then(|j| chars.get(j))
                .copied()
                .unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let wide = |ch: char| !ch.is_ascii() || ch == '<' || ch == '>';
            if wide(prev)
                && wide(next)
                && !(prev.is_ascii_alphanumeric() || next.is_ascii_alphanumeric())
            {
                continue;
            }
        }
        out.push(*c);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KbStatus {
    Draft,
    Review,
    Published,
    Retired,
}

impl KbStatus {
    fn as_str(self) -> &'static str {
        match self {
            KbStatus::Draft => "draft",
            KbStatus::Review => "review",
            KbStatus::Published => "published",
            KbStatus::Retired => "retired",
        }
    }
    fn parse(s: &str) -> Option<KbStatus> {
        [
            KbStatus::Draft,
            KbStatus::Review,
            KbStatus::Published,
            KbStatus::Retired,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KbAction {
    Submit,
    Approve,
    Reject,
    Retire,
    Revise,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub body: String,
    pub category_code: String,
    pub status: KbStatus,
    pub version: i64,
    pub author: String,
    pub reviewer: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub published_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub category_code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KbHistory {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub version: i64,
    pub title: String,
    pub opinion: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub category_code: String,
    /// Higher is better.
    pub score: f64,
    /// Body excerpt with `<mark>` around matched words.
    pub snippet: String,
}

fn refused(kind: u16, code: &'static str, reason: impl Into<String>) -> TicketError {
    let reason = reason.into();
    TicketError::Refused(match kind {
        403 => Refusal::Forbidden { code, reason },
        409 => Refusal::Conflict { code, reason },
        _ => Refusal::Invalid { code, reason },
    })
}

fn is_author(a: &Actor) -> bool {
    a.has(Role::Agent) || a.has(Role::Reviewer) || a.has(Role::Dispatcher)
}

fn validate(input: &ArticleInput) -> Result<()> {
    if input.title.trim().is_empty() || input.title.chars().count() > 200 {
        return Err(refused(
            422,
            "title",
            "a title of 1-200 characters is required",
        ));
    }
    if input.body.trim().is_empty() || input.body.chars().count() > 100_000 {
        return Err(refused(
            422,
            "body",
            "a body of 1-100000 characters is required",
        ));
    }
    Ok(())
}

const ACOLS: &str = "id, title, body, category_code, status, version, author, reviewer, created_ms, updated_ms, published_ms";

fn row_article(r: &sqlx::any::AnyRow) -> std::result::Result<Article, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(Article {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        category_code: r.try_get("category_code")?,
        status: KbStatus::parse(&status).unwrap_or(KbStatus::Draft),
        version: r.try_get("version")?,
        author: r.try_get("author")?,
        reviewer: r.try_get("reviewer")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        published_ms: r.try_get("published_ms")?,
    })
}

/// The knowledge base over one database.
#[derive(Clone)]
pub struct KnowledgeBase {
    pub db: Db,
}

impl KnowledgeBase {
    pub fn new(db: Db) -> KnowledgeBase {
        KnowledgeBase { db }
    }

    pub async fn create(&self, actor: &Actor, input: ArticleInput, now: i64) -> Result<Article> {
        if !is_author(actor) {
            return Err(refused(
                403,
                "role",
                "writing knowledge needs the agent, dispatcher or reviewer role",
            ));
        }
        validate(&input)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(
            "INSERT INTO kb_articles (id, title, body, category_code, status, version, author, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, 'draft', 1, $5, $6, $6)",
        )
        .bind(&id)
        .bind(&input.title)
        .bind(&input.body)
        .bind(&input.category_code)
        .bind(&actor.user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        history(
            &mut tx,
            &id,
            now,
            &actor.user_id,
            "create",
            "draft",
            "draft",
            1,
            &input.title,
            &input.body,
            "",
        )
        .await?;
        tx.commit().await?;
        self.get(&id, actor).await
    }

    /// An article: published ones for everyone, others for authors and reviewers.
    pub async fn get(&self, id: &str, actor: &Actor) -> Result<Article> {
        let r = sqlx::query(&format!("SELECT {ACOLS} FROM kb_articles WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or(TicketError::NotFound)?;
        let a = row_article(&r)?;
        if a.status != KbStatus::Published && !is_author(actor) {
            return Err(TicketError::NotFound);
        }
        Ok(a)
    }

    /// Edits a draft (the author's or a reviewer's).
    pub async fn edit(
        &self,
        id: &str,
        actor: &Actor,
        input: ArticleInput,
        now: i64,
    ) -> Result<Article> {
        validate(&input)?;
        let a = self.get(id, actor).await?;
        if a.author != actor.user_id && !actor.has(Role::Reviewer) {
            return Err(refused(
                403,
                "not_author",
                "only the author or a reviewer edits a draft",
            ));
        }
        if a.status != KbStatus::Draft {
            return Err(refused(
                409,
                "state",
                format!(
                    "a {} article cannot be edited; revise it first",
                    a.status.as_str()
                ),
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE kb_articles SET title = $1, body = $2, category_code = $3, updated_ms = $4 WHERE id = $5 AND status = 'draft'",
        )
        .bind(&input.title)
        .bind(&input.body)
        .bind(&input.category_code)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        history(
            &mut tx,
            id,
            now,
            &actor.user_id,
            "edit",
            "draft",
            "draft",
            a.version,
            &input.title,
            &input.body,
            "",
        )
        .await?;
        tx.commit().await?;
        self.get(id, actor).await
    }

    /// One workflow step; refused with 403 (role, four eyes) or 409 (state).
    pub async fn act(
        &self,
        id: &str,
        actor: &Actor,
        action: KbAction,
        opinion: &str,
        now: i64,
    ) -> Result<Article> {
        let a = self.get(id, actor).await?;
        use KbAction::*;
        use KbStatus::*;
        let (allowed, to): (&[KbStatus], KbStatus) = match action {
            Submit => (&[Draft], Review),
            Approve | Reject => (&[Review], if action == Approve { Published } else { Draft }),
            Retire => (&[Published], Retired),
            Revise => (&[Published, Retired], Draft),
        };
        match action {
            Approve | Reject | Retire if !actor.has(Role::Reviewer) => {
                return Err(refused(403, "role", "this step needs the reviewer role"));
            }
            Approve if a.author == actor.user_id => {
                return Err(refused(
                    403,
                    "four_eyes",
                    "an author cannot approve their own article",
                ));
            }
            Submit | Revise if !is_author(actor) => {
                return Err(refused(403, "role", "this step needs an author"))
            }
            _ => {}
        }
        if !allowed.contains(&a.status) {
            return Err(refused(
                409,
                "state",
                format!("cannot {action:?} a {} article", a.status.as_str()),
            ));
        }
        if opinion.chars().count() > 2000 {
            return Err(refused(422, "opinion", "the opinion is too long"));
        }
        let version = if action == Revise {
            a.version + 1
        } else {
            a.version
        };
        let mut tx = self.db.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE kb_articles SET status = $1, version = $2, updated_ms = $3,
               reviewer = CASE WHEN $4 = 1 THEN $5 ELSE reviewer END,
               published_ms = CASE WHEN $6 = 1 THEN $3 ELSE published_ms END
             WHERE id = $7 AND status = $8",
        )
        .bind(to.as_str())
        .bind(version)
        .bind(now)
        .bind(i64::from(matches!(action, Approve | Reject)))
        .bind(&actor.user_id)
        .bind(i64::from(action == Approve))
        .bind(id)
        .bind(a.status.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(TicketError::Busy);
        }
        if to == Published {
            self.index(&mut tx, &a).await?;
        } else if a.status == Published {
            self.unindex(&mut tx, id).await?;
        }
        let name = serde_json::to_value(action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        history(
            &mut tx,
            id,
            now,
            &actor.user_id,
            &name,
            a.status.as_str(),
            to.as_str(),
            version,
            &a.title,
            &a.body,
            opinion,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(article = %id, action = %name, by = %actor.user_id, "knowledge step");
        self.get(id, actor).await
    }

    async fn index(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, a: &Article) -> Result<()> {
        let (title, body) = (segment(&a.title), segment(&a.body));
        self.unindex(tx, &a.id).await?;
        let sql = match self.db.backend {
            Backend::Sqlite => "INSERT INTO kb_fts (article_id, title, body) VALUES ($1, $2, $3)",
            Backend::Postgres => {
                "INSERT INTO kb_search (article_id, title_seg, body_seg, tsv)
                 VALUES ($1, $2, $3, setweight(to_tsvector('simple', $2), 'A') || to_tsvector('simple', $3))"
            }
        };
        sqlx::query(sql)
            .bind(&a.id)
            .bind(title)
            .bind(body)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn unindex(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> Result<()> {
        let sql = match self.db.backend {
            Backend::Sqlite => "DELETE FROM kb_fts WHERE article_id = $1",
            Backend::Postgres => "DELETE FROM kb_search WHERE article_id = $1",
        };
        sqlx::query(sql).bind(id).execute(&mut **tx).await?;
        Ok(())
    }

    /// The search terms of a query's words: common words left out (see [`prune`]), each
    /// remaining word widened by its synonym group (one term per distinct word or synonym, each
    /// term the tokens that must all match; at most 48). Word statistics and synonyms come in
    /// one round trip: on SQLite every statement is a hand-off to the connection's thread.
    async fn terms(&self, words: Vec<String>) -> Result<Vec<Vec<String>>> {
        let k = words.len();
        let marks = |from: usize| {
            (from..from + k)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "SELECT CAST(0 AS BIGINT) AS kind, term AS word, s1w AS origin, docs,
                    (SELECT COUNT(*) FROM kb_articles WHERE status = 'published') AS n
             FROM (SELECT term, term AS s1w, docs FROM kb_terms WHERE term IN ({})) d
             UNION ALL
             SELECT CAST(1 AS BIGINT), s2.word, s1.word, CAST(0 AS BIGINT), CAST(0 AS BIGINT)
             FROM kb_synonyms s1 JOIN kb_synonyms s2 ON s2.main_word = s1.main_word
             WHERE s1.word IN ({})",
            marks(1),
            marks(k + 1)
        );
        let mut q = sqlx::query(&sql);
        for w in words.iter().chain(words.iter()) {
            q = q.bind(w);
        }
        let mut df = Vec::new();
        let mut n = 0i64;
        let mut synonyms: Vec<(String, String)> = Vec::new();
        for r in q.fetch_all(&self.db.pool).await? {
            let word: String = r.try_get("word")?;
            if r.try_get::<i64, _>("kind")? == 0 {
                n = r.try_get("n")?;
                df.push((word, r.try_get::<i64, _>("docs")?));
            } else {
                synonyms.push((r.try_get("origin")?, word));
            }
        }
        let kept = prune(words, &df, n);
        let mut terms: Vec<Vec<String>> = kept.iter().map(|w| vec![w.clone()]).collect();
        synonyms.sort();
        for (origin, word) in synonyms {
            if !kept.contains(&origin) {
                continue;
            }
            let t = synonym_tokens(&word);
            if !t.is_empty() && !terms.contains(&t) && terms.len() < 48 {
                terms.push(t);
            }
        }
        Ok(terms)
    }

    /// Sets (replaces) the synonym group of `main`; knowledge managers (reviewers) only.
    /// A word may belong to one group: a word of another group is refused with 409.
    pub async fn set_synonyms(&self, actor: &Actor, group: SynonymGroup) -> Result<SynonymGroup> {
        if !actor.has(Role::Reviewer) {
            return Err(refused(403, "role", "synonyms need the reviewer role"));
        }
        let main = normalize_word(&group.main);
        let mut words: Vec<String> = Vec::new();
        for w in &group.words {
            let w = normalize_word(w);
            if !w.is_empty() && w != main && !words.contains(&w) {
                words.push(w);
            }
        }
        if main.is_empty() || main.chars().count() > 50 || words.is_empty() || words.len() > 50 {
            return Err(refused(
                422,
                "synonyms",
                "a main word and 1-50 other words, each of letters or digits, at most 50 long",
            ));
        }
        if words.iter().any(|w| w.chars().count() > 50) {
            return Err(refused(
                422,
                "synonyms",
                "a word is longer than 50 characters",
            ));
        }
        let mut tx = self.db.pool.begin().await?;
        // Writes first (SQLite cannot upgrade a reader).
        sqlx::query("DELETE FROM kb_synonyms WHERE main_word = $1")
            .bind(&main)
            .execute(&mut *tx)
            .await?;
        for w in std::iter::once(&main).chain(words.iter()) {
            let taken = sqlx::query("SELECT main_word FROM kb_synonyms WHERE word = $1")
                .bind(w)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(r) = taken {
                let other: String = r.try_get("main_word")?;
                return Err(refused(
                    409,
                    "synonym_taken",
                    format!("`{w}` already belongs to the group of `{other}`"),
                ));
            }
            sqlx::query("INSERT INTO kb_synonyms (word, main_word) VALUES ($1, $2)")
                .bind(w)
                .bind(&main)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(main = %main, words = words.len(), by = %actor.user_id, "synonyms set");
        Ok(SynonymGroup { main, words })
    }

    /// Removes the group of `main`; true when it existed.
    pub async fn delete_synonyms(&self, actor: &Actor, main: &str) -> Result<bool> {
        if !actor.has(Role::Reviewer) {
            return Err(refused(403, "role", "synonyms need the reviewer role"));
        }
        let n = sqlx::query("DELETE FROM kb_synonyms WHERE main_word = $1")
            .bind(normalize_word(main))
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every synonym group, by main word.
    pub async fn synonyms(&self) -> Result<Vec<SynonymGroup>> {
        let rows = sqlx::query("SELECT word, main_word FROM kb_synonyms ORDER BY main_word, word")
            .fetch_all(&self.db.pool)
            .await?;
        let mut out: Vec<SynonymGroup> = Vec::new();
        for r in rows {
            let (w, m): (String, String) = (r.try_get("word")?, r.try_get("main_word")?);
            if out.last().is_none_or(|g| g.main != m) {
                out.push(SynonymGroup {
                    main: m.clone(),
                    words: Vec::new(),
                });
            }
            if w != m {
                if let Some(g) = out.last_mut() {
                    g.words.push(w);
                }
            }
        }
        Ok(out)
    }

    pub async fn history(&self, id: &str, actor: &Actor) -> Result<Vec<KbHistory>> {
        self.get(id, actor).await?;
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, from_status, to_status, version, title, opinion FROM kb_history
             WHERE article_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(KbHistory {
                    seq: r.try_get("seq")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    from: r.try_get("from_status")?,
                    to: r.try_get("to_status")?,
                    version: r.try_get("version")?,
                    title: r.try_get("title")?,
                    opinion: r.try_get("opinion")?,
                })
            })
            .collect()
    }

    /// Published articles matching `query`, best first (at most `limit`, ≤ 50).
    pub async fn search(&self, query: &str, limit: u32) -> Result<Vec<Hit>> {
        let words = query_words(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, 50) as i64;
        // Each query word becomes an OR of itself and its synonyms; a synonym jieba splits is
        // an AND of its parts. Words are alphanumeric only (see `segment`), so quoting them is
        // safe in both syntaxes.
        let terms = self.terms(words).await?;
        let rows = match self.db.backend {
            Backend::Sqlite => {
                let q = terms
                    .iter()
                    .map(|t| {
                        let parts: Vec<String> = t.iter().map(|w| format!("\"{w}\"")).collect();
                        if parts.len() == 1 {
                            parts.join("")
                        } else {
                            format!("({})", parts.join(" AND "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" OR ");
                // `ORDER BY rank` lets FTS5 sort inside the index and stop at the limit, so
                // the snippet is built for the returned rows only, not for every match.
                sqlx::query(
                    "SELECT a.id, a.title, a.category_code, f.score, f.snip
                     FROM (SELECT article_id, -rank AS score,
                                  snippet(kb_fts, 2, '<mark>', '</mark>', '…', 24) AS snip
                           FROM kb_fts WHERE kb_fts MATCH $1 AND rank MATCH 'bm25(0.0, 5.0, 1.0)'
                           ORDER BY rank LIMIT $2) f
                     JOIN kb_articles a ON a.id = f.article_id
                     ORDER BY f.score DESC, a.id",
                )
                .bind(q)
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
            Backend::Postgres => {
                let q = terms
                    .iter()
                    .map(|t| {
                        let parts: Vec<String> = t.iter().map(|w| format!("'{w}'")).collect();
                        if parts.len() == 1 {
                            parts.join("")
                        } else {
                            format!("({})", parts.join(" & "))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
                // Rank and limit first; the headline is built for the page only.
                sqlx::query(
                    "SELECT a.id, a.title, a.category_code, f.score,
                            ts_headline('simple', f.body_seg, to_tsquery('simple', $1),
                                        'StartSel=<mark>, StopSel=</mark>, MaxWords=30, MinWords=8') AS snip
                     FROM (SELECT s.article_id, s.body_seg, ts_rank(s.tsv, q)::float8 AS score
                           FROM kb_search s, to_tsquery('simple', $1) q
                           WHERE s.tsv @@ q ORDER BY score DESC, s.article_id LIMIT $2) f
                     JOIN kb_articles a ON a.id = f.article_id
                     ORDER BY f.score DESC, a.id",
                )
                .bind(q)
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(Hit {
                    id: r.try_get("id")?,
                    title: r.try_get("title")?,
                    category_code: r.try_get("category_code")?,
                    score: r.try_get("score")?,
                    snippet: despace(&r.try_get::<String, _>("snip")?),
                })
            })
            .collect()
    }
}

#[allow(clippy::too_many_arguments)] // one history row's columns
async fn history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    version: i64,
    title: &str,
    body: &str,
    opinion: &str,
) -> Result<()> {
    let seq: i64 =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM kb_history WHERE article_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
    sqlx::query(
        "INSERT INTO kb_history (article_id, seq, at_ms, actor, action, from_status, to_status, version, title, body, opinion)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id)
    .bind(seq + 1)
    .bind(now)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(version)
    .bind(title)
    .bind(body)
    .bind(opinion)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_splits_chinese_words() {
        let s = segment("社保卡如何补办？请到人力资源和社会保障局办理。");
        let words: Vec<&str> = s.split(' ').collect();
        assert!(words.contains(&"社保卡") || words.contains(&"社保"), "{s}");
        assert!(words.contains(&"补办"), "{s}");
        assert!(!s.contains('？') && !s.contains('。'));
        assert_eq!(segment("  ，。"), "");
        assert_eq!(segment("ABC 12345"), "abc 12345");
    }

    #[test]
    fn queries_drop_question_words_unless_nothing_else_is_left() {
        let w = query_words("社保卡怎么补办？");
        assert!(w.contains(&"补办".to_string()), "{w:?}");
        assert!(!w.contains(&"怎么".to_string()), "{w:?}");
        assert_eq!(query_words("怎么"), vec!["怎么".to_string()]);
        assert!(query_words("，。").is_empty());
        let many = "路灯 ".repeat(3) + &(0..30).map(|i| format!("w{i} ")).collect::<String>();
        assert_eq!(query_words(&many).len(), 16);
    }

    #[test]
    fn words_most_articles_contain_are_pruned_when_others_remain() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let df = vec![("办理".to_string(), 1900), ("社保".to_string(), 200)];
        assert_eq!(prune(w(&["社保", "办理"]), &df, 2000), w(&["社保"]));
        // Exactly half is kept; nothing left means everything is kept.
        let half = vec![("办理".to_string(), 1000)];
        assert_eq!(
            prune(w(&["社保", "办理"]), &half, 2000),
            w(&["社保", "办理"])
        );
        assert_eq!(prune(w(&["办理"]), &df, 2000), w(&["办理"]));
        // A small knowledge base is searched as typed.
        assert_eq!(prune(w(&["社保", "办理"]), &df, 19), w(&["社保", "办理"]));
    }

    #[test]
    fn despace_joins_cjk_but_keeps_latin_gaps() {
        assert_eq!(
            despace("路灯 <mark>不亮</mark> 怎么 办"),
            "路灯<mark>不亮</mark>怎么办"
        );
        assert_eq!(despace("call 12345 now"), "call 12345 now");
        assert_eq!(despace("拨打 12345 热线"), "拨打 12345 热线");
    }
}
